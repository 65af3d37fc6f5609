"""Log latency: a line written on the instance -> the line yielded by ``stream_task_logs``.

The task prints ``ready``, waits for a go file (so no line is written before the
stream is open), then prints stamped lines (``time.time()`` at the write). The
reader stamps each line on arrival; both clocks are this machine's.
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.env import BenchEnv
from benchmarks.stats import Result, Summary, summarize
from flow_notebook.core.models import TaskConfig

LOCAL_TARGET = (0.020, 0.100)
SSH_TARGET = (0.050, 0.250)
_SCRIPT = """
import os, sys, time
go, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
deadline = time.time() + 120
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.002)
for i in range(count):
    print(f"stamp {i} {time.time():.6f}", flush=True)
    time.sleep(interval)
"""


class StampReader:
    """Reads a task's log stream on a thread and records each stamped line's delay.

    Args:
        lines: The stream (``provider.stream_task_logs(task_id)``).
    """

    def __init__(self, lines: Any) -> None:
        self._lines = lines
        self.ready = threading.Event()
        self.delays: list[float] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-log-reader", daemon=True)

    def start(self) -> StampReader:
        """Starts reading."""
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        """Waits for the stream to end; raises when it did not in time or failed."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the log stream did not end within {timeout} s")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            for line in self._lines:
                arrived = time.time()
                if line == "ready":
                    self.ready.set()
                elif line.startswith("stamp "):
                    self.delays.append(arrived - float(line.split()[2]))
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self.error = exc


def measure(
    provider: Any, command: list[str], go: Callable[[str], None], boot_timeout: float
) -> Summary:
    """Runs ``command`` as a task, releases it with ``go(task_id)``, returns the delays."""
    task = provider.submit_task("", TaskConfig(name="bench-logs", command=command))
    reader = StampReader(provider.stream_task_logs(task.task_id)).start()
    if not reader.ready.wait(boot_timeout):
        raise TimeoutError(f"task {task.task_id} printed nothing within {boot_timeout} s")
    go(task.task_id)
    reader.join(boot_timeout + 60)
    return summarize(reader.delays)


def _row(where: str, summary: Summary, target: tuple[float, float], count: int) -> Result:
    p50, p99 = target
    return Result(
        what=f"log line written -> shown by `stream_task_logs` ({where})",
        target=f"p50 <= {p50 * 1000:.0f} ms, p99 <= {p99 * 1000:.0f} ms",
        measured=f"p50 {summary.p50 * 1000:.1f} ms, p99 {summary.p99 * 1000:.1f} ms",
        met=summary.p50 <= p50 and summary.p99 <= p99,
        details=[f"- {count} lines: {summary.show(1000)}"],
    )


def run(env: BenchEnv) -> list[Result]:
    """Measures log latency on the local provider and on the sandbox over SSH."""
    sizes = env.sizes
    args = [str(sizes.log_lines), str(sizes.log_interval)]
    go_file = env.scratch("logs") / "go"
    local = env.local("logs-local")
    local_summary = measure(
        local,
        [sys.executable, "-c", _SCRIPT, str(go_file), *args],
        lambda task_id: go_file.touch(),
        boot_timeout=30,
    )
    sandbox = env.start_sandbox("logs")
    mithril = env.mithril(sandbox, "logs-mithril")
    remote_go = "/workspace/bench-go"
    ops = mithril.get_remote_operations()
    ssh_summary = measure(
        mithril,
        ["python3", "-c", _SCRIPT, remote_go, *args],
        lambda task_id: ops.execute_command(task_id, f"touch {shlex.quote(remote_go)}", 30),
        boot_timeout=60,
    )
    return [
        _row("local provider", local_summary, LOCAL_TARGET, sizes.log_lines),
        _row("sandbox over SSH", ssh_summary, SSH_TARGET, sizes.log_lines),
    ]
