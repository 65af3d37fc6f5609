"""Cold load: ``import flow_notebook`` + ``%load_ext flow_notebook`` in a fresh process.

The IPython shell is created first and not counted; only the import and the
extension load are timed, inside the child. ``python -X importtime`` of the same
steps names the slowest modules that flow_notebook's load pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.env import BenchEnv
from benchmarks.stats import Result, summarize

TARGET_SECONDS = 0.150
HEAVY = ("ipywidgets", "paramiko", "requests")
_MARK = "flow-bench-mark"
_CHILD = f"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = [m for m in {HEAVY!r} if m in sys.modules]
sys.stderr.write("{_MARK}\\n"); sys.stderr.flush()
started = time.perf_counter()
import flow_notebook
shell.run_line_magic("load_ext", "flow_notebook")
seconds = time.perf_counter() - started
after = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"seconds": seconds, "before": before, "after": after}}))
"""


def _child(env: BenchEnv, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=env.scratch("load"),
        check=True,
    )


def import_offenders(stderr: str, top: int = 8) -> list[tuple[str, int, int]]:
    """Returns the modules with the most self time after the mark, from ``-X importtime``.

    Returns:
        ``(module, self_us, cumulative_us)`` tuples, slowest first.
    """
    rows = []
    seen_mark = False
    for line in stderr.splitlines():
        if line.strip() == _MARK:
            seen_mark = True
            continue
        if not seen_mark or not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[12:].split("|", 2))
        if self_us.isdigit():
            rows.append((name.strip(), int(self_us), int(cumulative_us)))
    return sorted(rows, key=lambda row: -row[1])[:top]


def run(env: BenchEnv) -> list[Result]:
    """Times the cold load in fresh processes and lists the slowest imports."""
    samples, leaked = [], set()
    for _ in range(env.sizes.load_runs):
        answer = json.loads(_child(env).stdout)
        samples.append(answer["seconds"])
        leaked.update(answer["after"])
        leaked.difference_update(answer["before"])
    summary = summarize(samples)
    offenders = import_offenders(_child(env, "-X", "importtime").stderr)
    heavy = ", ".join(sorted(leaked)) or "none"
    met = summary.p50 <= TARGET_SECONDS and not leaked
    details = [
        f"- import + `%load_ext`: {summary.show(1000)}",
        f"- heavy modules loaded by it ({', '.join(HEAVY)}): {heavy}",
        "- slowest imports during the load (`-X importtime`, self time):",
        "",
        "| module | self (ms) | cumulative (ms) |",
        "| --- | --- | --- |",
        *(f"| `{name}` | {s / 1000:.1f} | {c / 1000:.1f} |" for name, s, c in offenders),
    ]
    return [
        Result(
            what="cold `import flow_notebook` + `%load_ext flow_notebook` (fresh process)",
            target="<= 150 ms; ipywidgets, paramiko, requests not imported",
            measured=f"p50 {summary.p50 * 1000:.0f} ms (max {summary.high * 1000:.0f} ms); "
            f"heavy modules imported: {heavy}",
            met=met,
            details=details,
        )
    ]
