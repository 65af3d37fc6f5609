"""A task's secrets never travel in the bid: another project member's listing cannot see them."""

from __future__ import annotations

import json

import pytest
import requests

from flow_notebook.core.models import TaskConfig

from .conftest import wait_status

pytestmark = [pytest.mark.sandbox, pytest.mark.ssh]

SECRET = "s3cret-NEVER-in-the-bid-7f3a"


def test_secrets_arrive_over_ssh_and_are_in_no_api_visible_field(ssh_sandbox, providers):
    provider = providers.provider(ssh_sandbox)
    config = TaskConfig(
        name="secretive",
        command="sh -c 'echo length=${#TOKEN}; ls -l /var/log/flow/secrets.env'",
        secrets={"TOKEN": SECRET},
    )
    task = provider.submit_task("a100", config)
    wait_status(provider, task.task_id, {"completed"}, timeout=90)
    output = provider.get_task_logs(task.task_id, tail=10)
    assert f"length={len(SECRET)}" in output
    assert "-rw-------" in output, "the secrets file on the instance is private"

    member = ssh_sandbox.add_user("colleague@example.com", projects=[ssh_sandbox.project])
    listing = requests.get(
        f"{ssh_sandbox.url}/v2/spot/bids",
        params={"project": ssh_sandbox.project},
        headers={"Authorization": f"Bearer {member['api_key']}"},
        timeout=30,
    )
    assert listing.status_code == 200
    bids = listing.json()["data"]
    assert task.task_id in {bid["fid"] for bid in bids}, "the member sees the bid"
    assert SECRET not in json.dumps(bids)
