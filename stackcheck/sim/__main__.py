"""`python -m stackcheck.sim`: run the simulated stack until Ctrl-C, for kubectl and friends."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from stackcheck.errors import UsageError
from stackcheck.sim.faults import BY_NAME, CATALOG, build_spec
from stackcheck.sim.stack import SimError, SimHandle, SimulatedStack
from stackcheck.stackfile import check_manifests, load_stack

ROOT = Path(__file__).resolve().parents[2]
USAGE_ERROR = 4  # as pytest's: bad input


def fault_table() -> str:
    """The fault matrix as kept in the README (a test keeps the two in step)."""
    rows = [
        "| fault | what breaks | check that must fail | message names | needs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in CATALOG:
        fails = (
            ", ".join([f"`{c}`" for c in f.fails] + [f"`{c}` (warning)" for c in f.warns])
            or "none: must pass"
        )
        names = f"`{f.must_mention}`" if f.must_mention else ""
        needs = f"`{' '.join(f.suite_args)}`" if f.suite_args else ""
        rows.append(f"| `{f.name}` | {f.summary} | {fails} | {names} | {needs} |")
    return "\n".join(rows)


def _workdir(given: Path) -> Path:
    """The given folder, made if missing; absolute, as Prometheus is started from
    elsewhere and reads its files by these paths."""
    workdir = given.expanduser().resolve()
    try:
        if workdir.exists() and not workdir.is_dir():
            raise UsageError(f"--workdir: {given} exists and is not a folder")
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--workdir: cannot create the folder {given} ({exc.strerror or exc})"
        ) from None
    return workdir


def _announce(handle: SimHandle) -> None:
    print(f"kubeconfig:  {handle.kubeconfig}")
    print(f"api server:  {handle.api_url}")
    for name, url in handle.service_urls.items():
        print(f"{name + ':':<12} {url}")
    print(f"prometheus:  {handle.prometheus_url or '(down)'}")
    print(f"try: kubectl --kubeconfig {handle.kubeconfig} get pods -A")
    print(
        f"     pytest suites/ --kubeconfig {handle.kubeconfig} "
        + " ".join(f"--{k}-url {v}" for k, v in handle.service_urls.items()),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackcheck.sim", description=__doc__)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=sorted(BY_NAME),
        metavar="NAME",
        help="inject a fault (repeatable); see --list-faults",
    )
    parser.add_argument("--list-faults", action="store_true", help="print the fault catalog")
    parser.add_argument(
        "--markdown", action="store_true", help="with --list-faults: as the README's Markdown table"
    )
    parser.add_argument("--stack-file", type=Path, default=ROOT / "stack.yml")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.list_faults:
        print(
            fault_table()
            if args.markdown
            else "\n".join(
                f"{f.name:<28} {f.summary}  ->  {', '.join(f.fails) or '(must pass)'}"
                for f in CATALOG
            )
        )
        return 0
    try:
        stack = load_stack(args.stack_file.resolve())
        check_manifests(stack, ROOT)
        given = _workdir(args.workdir) if args.workdir is not None else None
    except UsageError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return USAGE_ERROR
    manifests = [ROOT / m for c in stack.components for m in c.manifests]
    # SIGTERM is Ctrl-C from here on: a signal during start-up stops what has started
    _interrupt_on_signals()
    workdir = given or Path(tempfile.mkdtemp(prefix="stackcheck-sim-"))
    sim = SimulatedStack(build_spec(args.fault), workdir, manifests)
    try:
        handle = sim.start()
    except SimError as exc:
        sim.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        sim.stop()
        _remove_own(workdir, args.workdir)
        return 130
    try:
        _announce(handle)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        _remove_own(workdir, args.workdir)
    return 0


def _interrupt_on_signals() -> None:
    stopping: list[bool] = []

    def interrupt(signum: int, frame: object) -> None:
        if not stopping:  # once: a second signal must not cut the clean-up short
            stopping.append(True)
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


def _remove_own(workdir: Path, given: Path | None) -> None:
    """A temp folder we made goes (it holds the kubeconfig's token); a given one stays."""
    if given is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
