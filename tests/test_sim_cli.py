"""`python -m stackcheck.sim` answers bad input with one ERROR line and exit 4, and a
relative --workdir works (issue 13, case 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USAGE_ERROR = 4


def _sim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackcheck.sim", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--stack-file", "/missing.yml"], ("/missing.yml", "no such file")),
        (["--workdir", "{file}"], ("--workdir", "is not a folder")),
        (["--workdir", "{file}/below"], ("--workdir", "cannot create the folder")),
        (["--stack-file", "{bomb}"], ("anchors and aliases",)),
    ],
    ids=["missing-stack-file", "workdir-is-a-file", "workdir-under-a-file", "stack-alias"],
)
def test_bad_input_is_one_error_line_and_exit_4(
    tmp_path: Path, args: list[str], names: tuple[str, ...]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x\n", encoding="utf-8")
    bomb = tmp_path / "bomb.yml"
    bomb.write_text("a: &a [x, x]\nb: [*a, *a]\n", encoding="utf-8")
    done = _sim(*(a.format(file=a_file, bomb=bomb) for a in args))
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    assert done.returncode == USAGE_ERROR, output
    assert "Traceback" not in output and len(errors) == 1, output
    assert all(name in errors[0] for name in names), errors[0]


@pytest.mark.sim
def test_a_relative_workdir_works(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "stackcheck.sim", "--workdir", "simdir"]
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.startswith(("prometheus:", "ERROR", "error")):
                    break
            proc.send_signal(signal.SIGTERM)
            rest, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    prometheus = next(line for line in lines if line.startswith("prometheus:"))
    assert "http://" in prometheus, output  # Prometheus started from the relative folder
    kubeconfig = next(line for line in lines if line.startswith("kubeconfig:")).split()[1]
    assert Path(kubeconfig).is_absolute() and str(tmp_path / "simdir") in kubeconfig


@pytest.mark.sim
@pytest.mark.parametrize("delay", [1.0, 4.0], ids=["early", "later"])
def test_sigterm_at_any_time_leaves_nothing(tmp_path: Path, delay: float) -> None:
    """During start-up or after it: the sim stops, its Prometheus and temp folder go."""
    import time
    import uuid

    from tests.test_soak import MARKER, _gone, kill_marked

    mark = uuid.uuid4().hex
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), MARKER: mark, "TMPDIR": str(scratch)}
    with subprocess.Popen(
        [sys.executable, "-m", "stackcheck.sim"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            time.sleep(delay)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        finally:
            left = _gone(mark)
            kill_marked(mark)
            proc.kill()
    # -SIGTERM: the signal came before anything started (imports, reading the stack file)
    assert proc.returncode in (0, 130, -signal.SIGTERM), output
    assert not left, f"processes left behind: {left}"
    assert not list(scratch.iterdir()), list(scratch.iterdir())
