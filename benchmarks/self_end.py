"""Seconds from a command's end to its bid ``Terminated``, with no kernel watching.

Tasks are submitted on the sandbox (real sshd instances) by a provider that is closed
at once, so only the on-instance watcher can end the bids. The command's end is the
time its exit code file was written on the instance; the bid's end is its
``deactivated_at`` from the API (one clock: the sandbox runs on this machine).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from benchmarks.env import BenchEnv, wait_until
from benchmarks.stats import Result, summarize
from flow_notebook.core.models import TaskConfig

TARGET_P50 = 10.0
TARGET_MAX = 15.0
WAIT_SECONDS = 120.0


def _ended(sandbox: object, task_id: str) -> datetime | None:
    bid = sandbox.api("GET", f"/v2/spot/bids/{task_id}").json()  # type: ignore[attr-defined]
    if bid["status"] != "Terminated":
        return None
    return datetime.fromisoformat(bid["deactivated_at"].replace("Z", "+00:00"))


def _exit_file(sandbox: object, task_id: str) -> Path:
    bid = sandbox.api("GET", f"/v2/spot/bids/{task_id}").json()  # type: ignore[attr-defined]
    root = sandbox.root  # type: ignore[attr-defined]
    return root / "instances" / bid["instances"][0] / "var_log_flow" / "exit_code"


def run(env: BenchEnv) -> list[Result]:
    """Submits tasks, closes the provider, and times each bid's own end."""
    from flow_notebook.providers.mithril.provider import MithrilProvider

    sandbox = env.start_sandbox("self-end")
    provider = MithrilProvider.from_config(env.mithril_config(sandbox, "self-end"))
    runs = max(2, 2 * env.sizes.submit_runs)
    try:
        tasks = [
            provider.submit_task("", TaskConfig(name="bench-self-end", command="sleep 2"))
            for _ in range(runs)
        ]
    finally:
        provider.close()  # no kernel from here on
    ids = [task.task_id for task in tasks]
    wait_until(
        lambda: all(_ended(sandbox, i) for i in ids),
        WAIT_SECONDS,
        "every bid to end itself",
        interval=0.5,
    )
    delays = []
    for task_id in ids:
        command_end = _exit_file(sandbox, task_id).stat().st_mtime
        delays.append(_ended(sandbox, task_id).timestamp() - command_end)  # type: ignore[union-attr]
    summary = summarize(delays)
    return [
        Result(
            what="command end -> bid `Terminated` with no kernel (sandbox, on-instance watcher)",
            target=f"p50 <= {TARGET_P50:g} s, max <= {TARGET_MAX:g} s",
            measured=f"p50 {summary.p50:.1f} s, max {summary.high:.1f} s (n={summary.count})",
            met=summary.p50 <= TARGET_P50 and summary.high <= TARGET_MAX,
            details=[
                f"- {summary.show(unit='s', digits=2)}",
                "- includes the watcher's 2 s pause (a following kernel reads the last lines) "
                "and its 1 s poll of the done marker",
            ],
        )
    ]
