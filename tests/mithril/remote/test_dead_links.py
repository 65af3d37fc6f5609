"""A follow over a dead (sshd killed) or frozen (sshd stopped) link ends with one error.

No read waits for ever: a silent stream probes the server, and reconnects stop after
a deadline, so the follow ends with one ``TaskStateError`` line (about 8 + 4 + 10 s
for a frozen instance) instead of blocking.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.remote.host_keys import HostKeyStore
from flow_notebook.providers.mithril.remote.operations import MithrilRemoteOperations
from flow_notebook.providers.mithril.remote.pool import SSHConnectionPool

WATCHDOG = 90.0  # far above the bound; only keeps a regression from hanging the suite


def _follow_in_thread(service: LogService, seen: list[str], outcome: dict) -> threading.Thread:
    def run() -> None:
        try:
            for line in service.stream_task_logs("t-1"):
                seen.append(line)
            outcome["ended"] = "cleanly"
        except Exception as exc:  # noqa: BLE001 - the test inspects what ended it
            outcome["ended"] = exc
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def link(own_sshd, tmp_path):
    pool = SSHConnectionPool(
        own_sshd.client_key, HostKeyStore(tmp_path / "ssh"), connect_timeout=10
    )
    ops = MithrilRemoteOperations(lambda task_id: [own_sshd.endpoint()], pool)
    log = tmp_path / "stdout.log"
    log.write_text("".join(f"line {i}\n" for i in range(3)))
    service = LogService(
        ops, lambda task_id: TaskStatus.RUNNING, None,
        log_files={"stdout": str(log), "stderr": str(tmp_path / "stderr.log")},
        done_marker=str(tmp_path / "done"),
    )  # fmt: skip
    stopped: list[int] = []
    yield own_sshd, service, stopped
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    pool.close()


def _sshd_pids(server) -> list[int]:
    return [server.proc.pid, *server.session_pids()]


@pytest.mark.parametrize("signal_name", ["SIGSTOP", "SIGKILL"])
def test_a_frozen_or_dead_instance_ends_the_follow_with_one_line(link, signal_name):
    server, service, stopped = link
    seen: list[str] = []
    outcome: dict = {}
    thread = _follow_in_thread(service, seen, outcome)
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == ["line 0", "line 1", "line 2"]

    pids = _sshd_pids(server)
    started = time.monotonic()
    for pid in pids:
        os.kill(pid, getattr(signal, signal_name))
    if signal_name == "SIGSTOP":
        stopped.extend(pids)
    thread.join(WATCHDOG)

    assert not thread.is_alive(), "the follow never ended"
    error = outcome["ended"]
    assert isinstance(error, TaskStateError), error
    assert "over SSH" in str(error) and "\n" not in str(error)
    print(f"{signal_name}: ended after {outcome['at'] - started:.1f} s: {error}")
