"""SSH under restarts and cut connections, on real sandbox instances via MithrilProvider.

A followed log keeps every line exactly once while the instance's sshd restarts and
its connections are killed (the follow resumes by line offset), and a code upload
cut midway is completed by the next sync with byte-exact files.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.sandbox.testing import wait_for

pytestmark = [pytest.mark.ssh]

LINES = 300


def test_followed_log_survives_sshd_restarts_and_cut_connections_without_lost_or_repeated_lines(
    ssh_sandbox, providers, instances, waits, figures
):
    provider = providers.provider(ssh_sandbox)
    command = f'for i in $(seq 1 {LINES}); do echo "line $i"; sleep 0.02; done'
    task = provider.submit_task("a100", TaskConfig(name="follow-cut", command=command))
    running = waits(provider, task.task_id, {"running", "completed"})
    instance = running.instances[0]
    received: list[str] = []
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            received.extend(provider.stream_task_logs(task.task_id))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    cuts = 0
    for threshold in (40, 120, 200):
        wait_for(lambda t=threshold: len(received) >= t, timeout=30, interval=0.01)
        cuts += 1 if instances.cut(instance) else 0
    follower.join(timeout=60)

    assert not follower.is_alive() and errors == []
    assert received == [f"line {i}" for i in range(1, LINES + 1)]
    assert cuts == 3  # every cut really killed a live connection
    assert waits(provider, task.task_id, {"completed"}).exit_code == 0
    figures("log_follow_cuts", {"lines": LINES, "cuts": cuts, "received": len(received),
                                "lost": LINES - len(set(received)),
                                "duplicated": len(received) - len(set(received))})  # fmt: skip


def test_code_upload_cut_midway_is_completed_by_the_next_sync_without_corrupt_files(
    ssh_sandbox, providers, instances, waits, tmp_path, figures
):
    provider = providers.provider(ssh_sandbox)
    task = provider.submit_task("a100", TaskConfig(name="sync-cut", command="sleep 120"))
    instance = waits(provider, task.task_id, {"running"}).instances[0]
    code = tmp_path / "code"
    for i in range(24):
        (code / f"pkg{i % 4}").mkdir(parents=True, exist_ok=True)
        (code / f"pkg{i % 4}" / f"blob{i}.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    (code / "train.py").write_text("print('hello')\n")
    workspace = instances.home(instance) / "workspace"
    outcome: list[object] = []

    def sync() -> None:
        try:
            outcome.append(provider.sync_code(task.task_id, code))
        except FlowError as exc:
            outcome.append(exc)

    uploader = threading.Thread(target=sync, daemon=True)
    uploader.start()
    wait_for(lambda: _arrived(workspace) >= 2, timeout=30, interval=0.005)
    killed = instances.cut(instance, restart_sshd=False)
    uploader.join(timeout=60)

    assert killed and len(outcome) == 1
    assert isinstance(outcome[0], FlowError) and "\n" not in str(outcome[0])
    partial = _arrived(workspace)
    assert _digests(code) != _digests(workspace)  # the cut left the upload unfinished

    provider.sync_code(task.task_id, code)

    assert _digests(workspace) == _digests(code)
    assert not list(workspace.rglob(".rsync-partial*")) and not list(workspace.rglob(".*.??????"))
    assert provider.cancel_task(task.task_id) is True
    assert provider.get_task(task.task_id).status is TaskStatus.CANCELLED
    figures("upload_cut", {"files": 25, "bytes": 24 * 4 * 1024 * 1024 + 15,
                           "files_before_cut_detected": partial,
                           "first_sync_error": type(outcome[0]).__name__})  # fmt: skip


def _arrived(root: Path) -> int:
    return sum(1 for path in root.rglob("*.bin") if path.is_file())


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".rsync-partial" not in path.parts and not path.name.startswith(".")
    }
