"""Two runs in one report folder (issue 13, case 7): the second is refused, naming the
first one's pid, before anything starts; the folder is free again once the first ends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.errors import UsageError
from stackcheck.reportdir import claim_outputs, release_all
from tests.test_bad_input import USAGE_ERROR, run_suite

ROOT = Path(__file__).resolve().parent.parent
HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from stackcheck.reportdir import claim_outputs\n"
    "claim_outputs(Path(sys.argv[1]))\n"
    "print('held', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def other_run(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Another process holding the report folder tmp_path/reports."""
    folder = tmp_path / "reports"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
            yield folder, proc.pid
        finally:
            proc.kill()


def test_a_held_report_folder_is_refused_with_the_holders_pid(other_run: tuple[Path, int]) -> None:
    folder, pid = other_run
    with pytest.raises(UsageError, match=rf"another stackcheck run \(pid {pid}\)"):
        claim_outputs(folder)


def test_the_folder_is_free_once_the_other_run_ended(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    subprocess.run(
        [sys.executable, "-c", HOLD.replace("time.sleep(60)", "pass"), str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        claim_outputs(folder)
        claim_outputs(folder)  # the same process again: it holds it already
    finally:
        release_all()


def test_a_second_suite_run_in_the_same_folder_exits_4(
    other_run: tuple[Path, int], tmp_path: Path
) -> None:
    folder, pid = other_run
    run = run_suite(tmp_path, ["--target", "sim", "--report-dir", str(folder)], {})
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert run.exit_code == USAGE_ERROR, run.output[-3000:]
    assert len(errors) == 1 and f"pid {pid}" in errors[0] and "--report-dir" in errors[0]
    assert not (folder / "allure-results").exists()  # nothing of the other run was touched


def test_a_junitxml_folder_that_is_missing_is_made_up_front(tmp_path: Path) -> None:
    """As pytest would make it at the end, but before anything starts; a folder that cannot
    be made is refused then, not after every check ran."""
    try:
        claim_outputs(tmp_path / "reports", str(tmp_path / "ci" / "deeper" / "junit.xml"))
        assert (tmp_path / "ci" / "deeper").is_dir()
        (tmp_path / "a-file").write_text("x", encoding="utf-8")
        with pytest.raises(UsageError, match=r"--junitxml: .*a-file exists and is not a folder"):
            claim_outputs(tmp_path / "reports", str(tmp_path / "a-file" / "junit.xml"))
    finally:
        release_all()
