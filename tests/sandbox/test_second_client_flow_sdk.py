"""A second client: Mithril's own SDK (flow-compute 3.28.2), unmodified, against the sandbox.

The SDK was written against the real service, so what it expects of the API (real
instance-type ids, reservations consulted before a submit, a host-name SSH destination,
task keys ...) is checked here independently of our own client. It is configured only the
way a user configures it: environment variables naming the API URL, key, project and SSH
key, and a home directory of its own. ``flow_sdk_driver.py`` runs its public client in a
subprocess once per module; each test below checks one step of that run, and the
sandbox's own view of it where there is one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flow_notebook.sandbox.testing import (
    SandboxHandle,
    check_ssh_prerequisites,
    start_sandbox,
    stop_sandbox,
    wait_for,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.ssh, pytest.mark.timeout(600)]

A100_1X = "it_RrgkIZz6c9BZu5gi"
A100_1X_NAME = "a100-80gb.sxm.1x"
PRICE = "$2.37"
DRIVER = Path(__file__).with_name("flow_sdk_driver.py")
DRIVER_TIMEOUT = 480
TASK_NAME = "sdk-second-client"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    check_ssh_prerequisites()
    handle = start_sandbox(tmp_path_factory.mktemp("sdk_sandbox"))
    yield handle
    stop_sandbox(handle)


@pytest.fixture(scope="module")
def region(sandbox: SandboxHandle) -> str:
    """A region offering 1x A100, priced at ``PRICE`` so the SDK's figures are the sandbox's."""
    params = {"instance_type": A100_1X}
    auctions = sandbox.api("GET", "/v2/spot/availability", params=params).json()
    offered = [a["region"] for a in auctions if a["instance_type"] == A100_1X]
    assert offered, f"the sandbox offers no {A100_1X_NAME}"
    sandbox.set_price(A100_1X, offered[0], PRICE)
    return offered[0]


@pytest.fixture(scope="module")
def sdk_run(
    sandbox: SandboxHandle, region: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Runs the driver once; returns each step's outcome by step name."""
    home = tmp_path_factory.mktemp("sdk_home")
    key = home / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sdk", "-f", str(key)], check=True
    )
    public_key = key.with_name(key.name + ".pub").read_text().strip()
    body = {"project": sandbox.project, "name": "sdk", "public_key": public_key}
    assert sandbox.api("POST", "/v2/ssh-keys", json=body).status_code == 201
    plan = {
        "name": TASK_NAME,
        "family": "a100",
        "instance_type": A100_1X_NAME,
        "region": region,
        "max_price": 10.0,
        "command": "echo hello-from-sdk-$((6*7)); sleep 600",
        # A user's switch: the instance does not fetch uv from the internet (tests stay offline).
        "env": {"FLOW_SKIP_UV_INSTALL": "1"},
        "log_marker": "hello-from-sdk-42",
        "remote_command": "echo remote-$((6*7)); id -un",
        "short_command": "echo short-job; sleep 3",
    }
    lines = run_driver(sdk_env(sandbox, home, key), plan, home / "driver.stderr")
    return {line["step"]: line for line in lines}


def sdk_env(sandbox: SandboxHandle, home: Path, key: Path) -> dict[str, str]:
    """The environment a user of the SDK would set; nothing of ours leaks in."""
    tmp = home / "tmp"
    tmp.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        **sandbox.env,
        "MITHRIL_SSH_KEY": str(key),
        "FLOW_TELEMETRY": "0",
        # No ControlPersist master outliving the run: the test stops what it starts.
        "FLOW_SSH_MUX": "0",
    }


def run_driver(env: dict[str, str], plan: dict[str, Any], stderr: Path) -> list[dict[str, Any]]:
    """Runs the driver in its own session; kills the whole session if it overruns."""
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, str(DRIVER), json.dumps(plan)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=DRIVER_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # Stray ssh clients of the run.
            except ProcessLookupError:
                pass
    assert process.returncode == 0, stderr.read_text()[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def step(run: dict[str, dict[str, Any]], name: str) -> Any:
    """The value of step ``name``; fails with the SDK's error when the step failed."""
    assert name in run, f"step {name!r} did not run (an earlier step failed): {sorted(run)}"
    outcome = run[name]
    assert outcome["ok"], f"{name}: {outcome['error']}\n{outcome.get('trace', '')}"
    return outcome["value"]


def test_projects(sdk_run, sandbox):
    assert sandbox.project in step(sdk_run, "projects")


def test_instance_types_are_the_sandbox_catalogue(sdk_run, sandbox):
    listed = step(sdk_run, "instance_types")
    served = sandbox.api("GET", "/v2/instance-types").json()
    assert served
    for itype in served:
        assert listed.get(itype["fid"], [None])[0] == itype["name"], itype


def test_availability_shows_the_sandbox_price(sdk_run, region):
    rows = step(sdk_run, "availability")
    row = [r for r in rows if r["region"] == region and r["instance_type"] == A100_1X_NAME]
    assert len(row) == 1, rows
    assert row[0]["price"] == float(PRICE.lstrip("$"))
    assert row[0]["available"] > 0


def test_submit_waits_until_running(sdk_run, sandbox, region):
    task = step(sdk_run, "submit")
    assert task["status"] == "running"
    bid = sandbox.api("GET", f"/v2/spot/bids/{task['task_id']}").json()
    assert (bid["instance_type"], bid["region"], bid["name"][: len(TASK_NAME)]) == (
        A100_1X,
        region,
        TASK_NAME,
    )
    assert task["ssh_user"] == "ubuntu"
    assert step(sdk_run, "status_running") == "running"


def test_logs_over_ssh(sdk_run):
    assert "hello-from-sdk-42" in step(sdk_run, "logs")


def test_remote_command_over_ssh(sdk_run):
    output = step(sdk_run, "remote_command")
    assert output.split() == ["remote-42", "ubuntu"]


def test_cancel_ends_the_bid_and_its_instance(sdk_run, sandbox):
    step(sdk_run, "cancel")
    assert step(sdk_run, "status_after_cancel") == "cancelled"
    task_id = step(sdk_run, "submit")["task_id"]
    wait_for(lambda: sandbox.bid_status(task_id) == "Terminated", timeout=30)
    instances = sandbox.instances_of(task_id)
    assert instances
    assert all(i["status"] == "STATUS_TERMINATED" for i in instances), instances


def test_terminate_on_exit_ends_the_task_from_the_instance(sdk_run, sandbox):
    """The SDK's watcher on the instance cancels the bid with its task key when the job exits."""
    task = step(sdk_run, "exit_submit")
    assert step(sdk_run, "exit_status") == "cancelled"
    assert sandbox.bid_status(task["task_id"]) == "Terminated"
    # The SDK minted that task's key (POST /v2/api-keys) to ship to the instance.
    keys = sandbox.api("GET", "/v2/api-keys").json()
    names = [k["name"] for k in keys if k["name"].startswith("flow-task-")]
    assert [n.startswith(f"flow-task-{TASK_NAME}-exit") for n in names] == [True], keys
