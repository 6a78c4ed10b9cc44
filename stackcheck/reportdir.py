"""Where a run writes, checked before anything starts, and held by one run at a time.

The report folder must be (or become) a writable folder; `--junitxml` must name a file in
a folder that can be made. Two runs in one report folder would mix their results (Allure
then calls every check flaky): the first holds an advisory lock (flock) on a file in the
folder until it exits, and the second is refused with the first one's pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from stackcheck.errors import UsageError

LOCK_FILE = ".stackcheck.lock"
REPORT_DIR = "--report-dir (or STACKCHECK_REPORT_DIR)"
_HELD: dict[Path, int] = {}  # report folder -> the open lock file this process holds


def claim_outputs(report_dir: Path, junitxml: str | None = None) -> None:
    """Bad paths are a UsageError (one line); another run using the folder too."""
    folder = _make_folder(report_dir, REPORT_DIR)
    _lock(folder)
    if junitxml:
        _check_file_target(Path(junitxml).expanduser(), "--junitxml")


def claim_file(path: Path, what: str) -> None:
    """An output file the run writes at the end (--json): its folder made and writable now."""
    _check_file_target(path.expanduser(), what)


def release_all() -> None:
    while _HELD:
        _, fd = _HELD.popitem()
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the file drops the lock


def _make_folder(path: Path, what: str) -> Path:
    try:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{what}: {path} exists and is not a folder")
        path.mkdir(parents=True, exist_ok=True)
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(
            f"{what}: cannot create the folder {path} ({exc.strerror or exc})"
        ) from None
    return path.resolve()


def _check_file_target(path: Path, what: str) -> None:
    if path.is_dir():
        raise UsageError(f"{what}: {path} is a folder, not a file")
    folder = _make_folder(path.parent, what)  # as pytest would at the end, but now
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what}: the folder {folder} is not writable")


def _lock(folder: Path) -> None:
    if folder in _HELD:
        return  # this process holds it already (a second session in one process)
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(
            f"{REPORT_DIR}: cannot write in {folder} ({exc.strerror or exc})"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise UsageError(f"{REPORT_DIR}: cannot lock {path} ({exc.strerror})") from None
        raise UsageError(
            f"{REPORT_DIR}: another stackcheck run{holder} is writing to "
            f"{folder}: wait for it to end, or give this run its own "
            f"--report-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[folder] = fd


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""
