"""Follows of sandbox tasks over real sshd instances: detach, dead and frozen links.

A detach closes the SSH channel the follow reads from, so nothing of it lingers on a
silent task (no reader thread here, no ``tail`` on the instance). When the instance's
sshd is killed or stopped mid-stream, ``%flow run --follow`` and ``%%flow run --wait``
end with one line once the provider gave up, and the status they show comes from the API.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.notebook.follow import Follow, FollowOptions, Timing
from flow_notebook.notebook.pinned import TaskFailedError
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.sandbox.procs import pids_in_namespace
from flow_notebook.sandbox.testing import (
    check_ssh_prerequisites,
    start_sandbox,
    stop_sandbox,
    wait_for,
)

from ..notebook.cell.conftest import RecordingSurface
from .conftest import SEED, InstanceControl

pytestmark = [pytest.mark.sandbox, pytest.mark.ssh]

WATCHDOG = 120.0  # far above the bound; only keeps a regression from hanging the suite
SILENT = "sh -c 'echo started; sleep 600'"
THREE_THEN_SILENT = "sh -c 'for i in 1 2 3; do echo line $i; done; sleep 600'"


@pytest.fixture(scope="module")
def ssh_sandbox(tmp_path_factory):
    """One sandbox with real sshd instances for this module (each test cancels its task)."""
    check_ssh_prerequisites()
    handle = start_sandbox(tmp_path_factory.mktemp("follow_links"), "--seed", str(SEED))
    yield handle
    stop_sandbox(handle)


@pytest.fixture
def instances(ssh_sandbox):
    """Controls the instances of this module's sandbox."""
    return InstanceControl(ssh_sandbox)


def _instance_pids(instances, instance_fid: str) -> list[int]:
    namespace = (instances.home(instance_fid) / "pidns").read_text().strip()
    return pids_in_namespace(namespace)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _log_tails(instances, instance_fid: str) -> list[int]:
    """The ``tail -F`` processes that follows run on the instance."""
    return [
        pid
        for pid in _instance_pids(instances, instance_fid)
        if (args := _cmdline(pid)) and Path(args[0]).name == "tail" and "-F" in args
    ]


def _log_readers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("flow-logs-")]


def test_a_detach_of_a_silent_task_ends_its_ssh_reader_and_channel(
    ssh_sandbox, providers, instances, waits, tmp_path
):
    provider = providers.provider(ssh_sandbox)
    task = provider.submit_task("a100", TaskConfig(name="silent", command=SILENT))
    instance = waits(provider, task.task_id, {"running"}).instances[0]
    options = FollowOptions(timing=Timing(poll_interval=0.1, settle_timeout=5.0))
    surface = RecordingSurface({})
    follow = Follow(provider, task, surface, LogPositions(tmp_path / "pos"), options).start()
    wait_for(lambda: surface.lines == ["started"], timeout=60, interval=0.05)
    assert _log_tails(instances, instance), "the follow reads through tail -F on the instance"

    follow.stop("detached by the test")

    assert follow.wait(WATCHDOG)
    assert follow.summary.note == "detached by the test"
    wait_for(lambda: not _log_readers(), timeout=WATCHDOG, interval=0.05)
    wait_for(lambda: not _log_tails(instances, instance), timeout=WATCHDOG, interval=0.05)
    assert provider.get_task(task.task_id).status is TaskStatus.RUNNING
    assert provider.cancel_task(task.task_id) is True


class _Link:
    """Kills or stops an instance's sshd once a follow has shown some lines."""

    def __init__(self, instances, positions: LogPositions, provider) -> None:
        self._instances = instances
        self._positions = positions
        self._provider = provider
        self.stopped: list[int] = []
        self.cut_at: float | None = None

    def cut_after(self, lines: int, signal_name: str) -> threading.Thread:
        def run() -> None:
            task_id = wait_for(self._followed_task, timeout=WATCHDOG, interval=0.05)
            wait_for(lambda: self._positions.get(task_id) >= lines, timeout=WATCHDOG)
            instance = self._provider.get_task(task_id).instances[0]
            pids = [p for p in _instance_pids(self._instances, instance) if _is_sshd(p)]
            for pid in pids:
                try:
                    os.kill(pid, getattr(signal, signal_name))
                except ProcessLookupError:
                    pass  # a session that ended with its listener
            if signal_name == "SIGSTOP":
                self.stopped.extend(pids)
            self.cut_at = time.monotonic()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def _followed_task(self) -> str | None:
        running = [t for t in self._provider.list_tasks() if t.status is TaskStatus.RUNNING]
        return running[0].task_id if running else None

    def release(self) -> None:
        for pid in self.stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _is_sshd(pid: int) -> bool:
    args = _cmdline(pid)
    return bool(args) and ("sshd" in Path(args[0]).name or args[0].startswith("sshd:"))


@pytest.fixture
def link(instances, tmp_path):
    made: list[_Link] = []

    def make(positions: LogPositions, provider) -> _Link:
        made.append(_Link(instances, positions, provider))
        return made[-1]

    yield make
    for each in made:
        each.release()


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSTOP"])
def test_flow_run_follow_ends_with_one_line_when_the_instance_link_dies(
    ssh_sandbox, providers, shell_magics, link, tmp_path, signal_name, figures
):
    provider = providers.provider(ssh_sandbox)
    shell = shell_magics(provider)
    cut = link(LogPositions(tmp_path / "positions"), provider)
    cutter = cut.cut_after(3, signal_name)

    with capture_output() as captured:
        shell.run_line_magic("flow", f"run --follow -- {THREE_THEN_SILENT}")
    ended = time.monotonic()

    cutter.join(5)
    out = captured.stdout.splitlines()
    assert [line for line in out if line.startswith("line ")] == ["line 1", "line 2", "line 3"]
    stops = [line for line in out if "stopped following" in line]
    assert len(stops) == 1, out
    assert "over SSH" in stops[0] and "%flow attach" in stops[0]
    task = provider.list_tasks()[0]
    assert task.status is TaskStatus.RUNNING  # the API's word: the task still runs
    figures(f"follow_dead_link_{signal_name}", {"seconds": round(ended - cut.cut_at, 1)})
    print(f"{signal_name}: the follow ended {ended - cut.cut_at:.1f} s after the cut")
    assert provider.cancel_task(task.task_id) is True


def test_a_wait_cell_ends_with_a_one_line_error_when_the_instance_sshd_is_killed(
    ssh_sandbox, providers, shell_magics, link, tmp_path
):
    provider = providers.provider(ssh_sandbox)
    shell = shell_magics(provider)
    cut = link(LogPositions(tmp_path / "positions"), provider)
    cutter = cut.cut_after(3, "SIGKILL")
    cell = "for i in 1 2 3; do echo line $i; done; sleep 600"

    with capture_output() as captured, pytest.raises(TaskFailedError) as lost:
        shell.run_cell_magic("flow", "run --wait --bash", cell)  # no endless wait
    # --wait promised the end: a lost stream stops "Run all" with one line.
    assert "is still running, but its log was lost" in str(lost.value)
    assert "\n" not in str(lost.value) and "%flow attach" in str(lost.value)

    cutter.join(5)
    out = captured.stdout.splitlines()
    assert [line for line in out if line.startswith("line ")] == ["line 1", "line 2", "line 3"]
    stops = [line for line in out if "stopped following" in line]
    assert len(stops) == 1 and "over SSH" in stops[0], out
    task = provider.list_tasks()[0]
    assert task.status is TaskStatus.RUNNING
    status_lines = [line for line in out if line.startswith(f"task {task.task_id} (flow-cell) ")]
    assert "running" in status_lines[-1], out  # the view's final status is the API's
    assert provider.cancel_task(task.task_id) is True
