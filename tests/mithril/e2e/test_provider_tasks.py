"""Tasks on the sandbox through MithrilProvider: logs over SSH, exit codes, cancel, big scripts."""

from __future__ import annotations

import base64
import os

from flow_notebook.core.models import Task, TaskConfig, TaskStatus
from flow_notebook.sandbox.testing import wait_for


def test_task_streams_its_logs_over_ssh_and_ends_with_its_exit_code(
    provider, mithril_sandbox, waits
):
    config = TaskConfig(name="e2e-exit", command="echo one; echo two >&2; echo three; exit 3")
    task = provider.submit_task("", config)
    assert task.status in (TaskStatus.PENDING, TaskStatus.PROVISIONING)
    waits.status(provider, task.task_id, {"running", "failed"})
    assert list(provider.stream_task_logs(task.task_id)) == ["one", "three"]
    ended = waits.ended(provider, task.task_id)
    assert (ended.status, ended.exit_code, ended.name) == (TaskStatus.FAILED, 3, "e2e-exit")
    # The command ended, so the bid was terminated and the user stops paying.
    assert mithril_sandbox.bid_status(task.task_id) == "Terminated"
    # The logs outlive the instance: they were archived before the bid ended.
    assert provider.get_task_logs(task.task_id, log_type="stderr") == "two"
    assert list(provider.stream_task_logs_from(task.task_id, 1)) == ["three"]


def test_cancel_terminates_a_running_task_and_a_second_cancel_reports_it(
    provider, mithril_sandbox, waits
):
    task = provider.submit_task("", TaskConfig(command="sleep 300"))
    waits.status(provider, task.task_id, {"running"})
    assert provider.cancel_task(task.task_id) is True
    assert provider.get_task(task.task_id).status is TaskStatus.CANCELLED
    assert mithril_sandbox.bid_status(task.task_id) == "Terminated"
    assert provider.cancel_task(task.task_id) is False


def test_startup_script_over_the_size_limit_is_split_and_still_runs(provider, waits):
    blob = base64.b64encode(os.urandom(12_000)).decode()  # incompressible, 16,000 chars
    config = TaskConfig(command='echo "got ${#BLOB} chars"', env={"BLOB": blob})
    task = provider.submit_task("", config)
    assert task.metadata["startup_script_strategy"] == "split"
    assert waits.ended(provider, task.task_id).status is TaskStatus.COMPLETED
    assert provider.get_task_logs(task.task_id) == f"got {len(blob)} chars"
    assert waits.provisioned(provider, task.task_id)["phase"] == "ready"


def test_each_instance_of_a_two_instance_task_sees_its_rank(provider, mithril_sandbox, waits):
    command = 'echo "rank=$FLOW_NODE_RANK of $FLOW_NUM_NODES main=$FLOW_MAIN_IP"'
    task = provider.submit_task("", TaskConfig(command=command, num_instances=2))
    assert waits.ended(provider, task.task_id).status is TaskStatus.COMPLETED
    assert provider.get_task_logs(task.task_id) == "rank=0 of 2 main=127.0.0.1"
    second = mithril_sandbox.root / "instances" / task.instances[1] / "var_log_flow"
    assert (second / "stdout.log").read_text() == "rank=1 of 2 main=127.0.0.1\n"


def test_listing_alone_notices_a_finished_task_and_terminates_its_bid(provider, mithril_sandbox):
    task = provider.submit_task("", TaskConfig(name="e2e-listed", command="exit 0"))

    def listed_as_ended() -> Task | None:
        found = next(t for t in provider.list_tasks() if t.task_id == task.task_id)
        return found if found.is_terminal else None

    # Only listings, as the dashboard and %flow list do: no get_task, no follow.
    ended = wait_for(listed_as_ended, timeout=40.0, interval=0.3)
    assert (ended.status, ended.exit_code) == (TaskStatus.COMPLETED, 0)
    assert ended.runtime_seconds() is not None
    assert mithril_sandbox.bid_status(task.task_id) == "Terminated"


def test_list_tasks_costs_two_requests_for_few_or_many_tasks(provider, mithril_sandbox):
    provider.list_tasks()  # the project id and the catalogue are cached by now

    def requests_of_one_listing() -> int:
        before = _api_requests(mithril_sandbox)
        provider.list_tasks(limit=100)
        return _api_requests(mithril_sandbox) - before

    few = requests_of_one_listing()
    mithril_sandbox.seed(30, status="Paused")
    many = requests_of_one_listing()
    assert few <= 2 and many == 2


def _api_requests(sandbox) -> int:
    return sum(
        row["count"] for row in sandbox.stats()["requests"] if row["route"].startswith("/v2/")
    )
