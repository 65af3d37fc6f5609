"""``python -m benchmarks [--quick] [--only NAMES] [--output PATH]``: run and write the report."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from benchmarks import (
    api_requests,
    boot,
    cellrun,
    dashboard,
    history,
    load,
    logs,
    machine,
    report,
    self_end,
    sync,
    volume,
)
from benchmarks.env import FULL, QUICK, BenchEnv
from benchmarks.stats import Result

SUITES: dict[str, Callable[[BenchEnv], list[Result]]] = {
    "load": load.run,
    "requests": api_requests.run,
    "logs": logs.run,
    "sync": sync.run,
    "dashboard": dashboard.run,
    "cellrun": cellrun.run,
    "self_end": self_end.run,
    "boot": boot.run,
    "volume": volume.run,
    "history": history.run,
}
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def run_suite(name: str, quick: bool) -> list[Result]:
    """Runs one suite in an environment of its own; a failure becomes a failed row."""
    env = BenchEnv(QUICK if quick else FULL)
    try:
        return SUITES[name](env)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the run goes on
        traceback.print_exc()
        return [Result(f"{name} (did not complete)", "-", f"error: {exc}", False)]
    finally:
        env.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the chosen suites, writes the report; exit status 1 if a suite failed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--only", help=f"comma-separated suites of: {', '.join(SUITES)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="report path")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(SUITES)
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        parser.error(f"unknown suites: {', '.join(unknown)}")
    started, when = time.monotonic(), datetime.now().astimezone()
    results: list[Result] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        suite_started = time.monotonic()
        results.extend(run_suite(name, args.quick))
        print(f"  {name}: {time.monotonic() - suite_started:.1f} s", file=sys.stderr)
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only:
        command += f" --only {args.only}"
    page = report.render(
        results,
        machine.describe(),
        when,
        command=command,
        seconds=time.monotonic() - started,
        quick=args.quick,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page)
    for result in results:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[result.met]
        print(f"{verdict:7} {result.what}: {result.measured}")
    print(f"wrote {args.output}")
    failed = any(result.target == "-" for result in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
