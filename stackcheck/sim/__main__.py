"""`python -m stackcheck.sim`: run the simulated stack until Ctrl-C, for kubectl and friends."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from stackcheck.sim.faults import BY_NAME, CATALOG, build_spec
from stackcheck.sim.stack import SimError, SimulatedStack
from stackcheck.stackfile import load_stack

ROOT = Path(__file__).resolve().parents[2]


def fault_table() -> str:
    """The fault matrix as kept in the README (a test keeps the two in step)."""
    rows = ["| fault | what breaks | check that must fail | message names |",
            "| --- | --- | --- | --- |"]
    for f in CATALOG:
        fails = ", ".join(f"`{c}`" for c in f.fails) or "none: must pass"
        names = f"`{f.must_mention}`" if f.must_mention else ""
        rows.append(f"| `{f.name}` | {f.summary} | {fails} | {names} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackcheck.sim", description=__doc__)
    parser.add_argument("--fault", action="append", default=[], choices=sorted(BY_NAME),
                        metavar="NAME", help="inject a fault (repeatable); see --list-faults")
    parser.add_argument("--list-faults", action="store_true", help="print the fault catalog")
    parser.add_argument("--markdown", action="store_true",
                        help="with --list-faults: as the README's Markdown table")
    parser.add_argument("--stack-file", type=Path, default=ROOT / "stack.yml")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.list_faults:
        print(fault_table() if args.markdown else "\n".join(
            f"{f.name:<28} {f.summary}  ->  {', '.join(f.fails) or '(must pass)'}"
            for f in CATALOG))
        return 0
    stack = load_stack(args.stack_file)
    manifests = [ROOT / m for c in stack.components for m in c.manifests]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stackcheck-sim-"))
    sim = SimulatedStack(build_spec(args.fault), workdir, manifests)
    try:
        handle = sim.start()
    except SimError as exc:
        sim.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"kubeconfig:  {handle.kubeconfig}")
    print(f"api server:  {handle.api_url}")
    for name, url in handle.service_urls.items():
        print(f"{name + ':':<12} {url}")
    print(f"prometheus:  {handle.prometheus_url or '(down)'}")
    print(f"try: kubectl --kubeconfig {handle.kubeconfig} get pods -A")
    print(f"     pytest suites/ --kubeconfig {handle.kubeconfig} "
          + " ".join(f"--{k}-url {v}" for k, v in handle.service_urls.items()), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
