"""The on-instance watcher on the sandbox: bids end themselves with no kernel left.

Each task is submitted by a separate Python process that is then killed with
SIGKILL, so only the instances (real sshd, the watcher as root) and the API are
left to end the bid, record the exit code and revoke the task key.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.sandbox.testing import SandboxHandle, wait_for

SUBMITTER = textwrap.dedent(
    """
    import json, sys, time
    from flow_notebook.core.config import load_config
    from flow_notebook.core.models import TaskConfig
    from flow_notebook.providers.mithril.provider import MithrilProvider

    config = load_config().with_overrides(extra={"ssh_dir": sys.argv[2]})
    provider = MithrilProvider.from_config(config)
    task = provider.submit_task("", TaskConfig(**json.loads(sys.argv[1])))
    print(task.task_id, flush=True)
    if json.loads(sys.argv[3]):
        # Multi-instance tasks need their rank files, written over SSH after boot.
        while not (provider.get_upload_status(task.task_id) or {}).get("finished"):
            time.sleep(0.2)
    print("submitted", flush=True)
    time.sleep(600)
    """
)


def submit_then_kill(
    sandbox: SandboxHandle, home: Path, config: dict[str, Any], *, provisioned: bool = False
) -> str:
    """Submits ``config`` from a child process, kills it with SIGKILL; returns the task id."""
    env = {**os.environ, **sandbox.env, "FLOW_PROVIDER": "mithril", "FLOW_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", SUBMITTER, json.dumps(config), str(home / "no-ssh"),
         json.dumps(provisioned)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        task_id = child.stdout.readline().strip()
        assert child.stdout.readline().strip() == "submitted", child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()
    return task_id


def instance_dir(sandbox: SandboxHandle, instance_fid: str) -> Path:
    return sandbox.root / "instances" / instance_fid / "var_log_flow"


def keys_of(sandbox: SandboxHandle, bid: dict[str, Any]) -> tuple[dict, list[dict]]:
    """Returns the bid's task key and its done keys, as listed by the API."""
    keys = sandbox.api("GET", "/v2/api-keys").json()
    [task_key] = [k for k in keys if k["name"] == f"flow-task:{bid['name']}"]
    done = [k for k in keys if k["name"].startswith(f"flow-done:{task_key['fid']}:")]
    return task_key, done


def wait_terminated(sandbox: SandboxHandle, task_id: str, timeout: float = 90.0) -> dict:
    wait_for(lambda: sandbox.bid_status(task_id) == "Terminated", timeout=timeout, interval=0.5)
    return sandbox.api("GET", f"/v2/spot/bids/{task_id}").json()


def test_bid_ends_itself_and_revokes_its_key_after_the_submitter_is_killed(
    mithril_sandbox, require_ssh, make_provider, tmp_path, monkeypatch
):
    task_id = submit_then_kill(mithril_sandbox, tmp_path / "home", {"command": "sleep 2; exit 3"})
    bid = wait_terminated(mithril_sandbox, task_id)
    exit_file = instance_dir(mithril_sandbox, bid["instances"][0]) / "exit_code"
    assert exit_file.read_text() == "3\n"
    task_key, done = keys_of(mithril_sandbox, bid)
    assert task_key["deactivated_at"] is not None
    assert [k["name"].split(":")[2:] for k in done] == [["0", "3"]]
    assert all(k["deactivated_at"] is not None for k in done)
    # A later kernel of the same home learns the exit code from the done key.
    monkeypatch.setenv("FLOW_HOME", str(tmp_path / "home"))
    later = make_provider().get_task(task_id)
    assert (later.status, later.exit_code) == (TaskStatus.FAILED, 3)


def test_run_time_limit_stops_the_command_with_no_kernel(mithril_sandbox, require_ssh, tmp_path):
    config = {"command": "sleep 600", "max_run_time_hours": 8 / 3600}
    task_id = submit_then_kill(mithril_sandbox, tmp_path / "home", config)
    bid = wait_terminated(mithril_sandbox, task_id)
    logs = instance_dir(mithril_sandbox, bid["instances"][0])
    assert (logs / "exit_code").read_text() == "124\n"
    assert "stopped after reaching the run-time limit (8s)" in (logs / "stderr.log").read_text()
    task_key, done = keys_of(mithril_sandbox, bid)
    assert task_key["deactivated_at"] is not None
    assert done == []  # the limit ended it, not the command


def test_two_instance_task_ends_only_when_both_ranks_ended(mithril_sandbox, require_ssh, tmp_path):
    command = 'if [ "$FLOW_NODE_RANK" = 1 ]; then sleep 8; fi; echo "rank $FLOW_NODE_RANK"'
    config = {"command": command, "num_instances": 2}
    task_id = submit_then_kill(mithril_sandbox, tmp_path / "home", config, provisioned=True)
    instances = mithril_sandbox.api("GET", f"/v2/spot/bids/{task_id}").json()["instances"]
    first, second = (instance_dir(mithril_sandbox, fid) / "exit_code" for fid in instances)
    wait_for(first.exists, timeout=60, interval=0.2)
    # Rank 0 is done and rank 1 still sleeps: the bid must stay allocated.
    if not second.exists():
        assert mithril_sandbox.bid_status(task_id) == "Allocated"
    bid = wait_terminated(mithril_sandbox, task_id)
    assert second.read_text() == "0\n"
    ended_at = bid["deactivated_at"].replace("Z", "+00:00")
    assert datetime.fromisoformat(ended_at).timestamp() >= second.stat().st_mtime
    _, done = keys_of(mithril_sandbox, bid)
    assert sorted(k["name"].split(":")[2] for k in done) == ["0", "1"]


def test_keep_alive_leaves_the_instance_up_after_the_command(
    mithril_sandbox, require_ssh, tmp_path
):
    config = {"command": "echo hi", "keep_alive": True}
    task_id = submit_then_kill(mithril_sandbox, tmp_path / "home", config)
    bid = mithril_sandbox.api("GET", f"/v2/spot/bids/{task_id}").json()
    watcher_log = instance_dir(mithril_sandbox, bid["instances"][0]) / "watcher.log"
    wait_for(lambda: "keep-alive" in (watcher_log.read_text() if watcher_log.exists() else ""),
             timeout=60, interval=0.2)  # fmt: skip
    assert mithril_sandbox.bid_status(task_id) == "Allocated"
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{task_id}")


pytestmark = [pytest.mark.ssh]


def test_re_allocation_after_a_pause_keeps_the_original_deadline(
    mithril_sandbox, require_ssh, tmp_path
):
    config = {"command": "sleep 600", "max_run_time_hours": 15 / 3600}
    task_id = submit_then_kill(mithril_sandbox, tmp_path / "home", config)
    instance = mithril_sandbox.api("GET", f"/v2/spot/bids/{task_id}").json()["instances"][0]
    log = instance_dir(mithril_sandbox, instance) / "watcher.log"

    def deadlines() -> list[str]:
        return re.findall(r"deadline (\S+ \S+)", log.read_text() if log.exists() else "")

    wait_for(deadlines, timeout=60, interval=0.2)
    # The instance stops, the bid frees its capacity, then is allocated and boots again.
    mithril_sandbox.api("PATCH", f"/v2/spot/bids/{task_id}", json={"paused": True})
    wait_for(lambda: mithril_sandbox.bid_status(task_id) == "Paused", timeout=30, interval=0.2)
    mithril_sandbox.api("PATCH", f"/v2/spot/bids/{task_id}", json={"paused": False})
    wait_for(lambda: len(deadlines()) == 2, timeout=60, interval=0.2)
    first, second = deadlines()
    assert first == second
    bid = wait_terminated(mithril_sandbox, task_id)
    assert (instance_dir(mithril_sandbox, instance) / "exit_code").read_text() == "124\n"
    ended = datetime.fromisoformat(bid["deactivated_at"].replace("Z", "+00:00"))
    assert ended >= datetime.fromisoformat(first)


def test_cancel_from_the_kernel_revokes_the_task_key_at_once(provider, mithril_sandbox, waits):
    task = provider.submit_task("", TaskConfig(command="sleep 300"))
    waits.status(provider, task.task_id, {"running"})
    assert provider.cancel_task(task.task_id) is True
    bid = mithril_sandbox.api("GET", f"/v2/spot/bids/{task.task_id}").json()
    task_key, _ = keys_of(mithril_sandbox, bid)
    assert task_key["deactivated_at"] is not None
