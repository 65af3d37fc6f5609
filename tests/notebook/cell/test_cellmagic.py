"""%%flow run on the real local provider, driven through IPython's InteractiveShell."""

from __future__ import annotations

import json
import threading
import time

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.pinned import TaskFailedError

from .conftest import interrupt_when, start_kernel, stop_kernel, ticking, wait_until


def _cell(ip, line: str, body: str):
    return ip.run_cell_magic("flow", line, body)


def test_output_arrives_line_by_line_in_its_cell_while_another_cell_runs(ip, kernel):
    _cell(ip, "run --name ticks", ticking(8, 0.1))
    surface = kernel.last
    assert not surface.finished.is_set(), "without --wait the cell returns at once"
    wait_until(lambda: surface.lines)
    started = time.monotonic()
    ip.run_cell("import time; time.sleep(0.5)")
    ended = time.monotonic()
    during = [batch for at, batch in surface.updates if started <= at <= ended and batch]
    assert len(during) >= 2, "lines kept arriving in the first cell while the second ran"
    ip.run_line_magic("flow", "wait")
    assert surface.lines == [f"tick {i}" for i in range(8)]
    assert surface.summary.task.status is TaskStatus.COMPLETED
    assert surface.titles[0].startswith("task local-")


def test_interrupt_while_waiting_detaches_and_leaves_the_task_running(ip, kernel):
    thread = interrupt_when(lambda: kernel.surfaces and len(kernel.last.lines) >= 2)
    _cell(ip, "run --wait", ticking(100, 0.05))
    thread.join(5)
    surface = kernel.last
    task_id = surface.metadata["task_id"]
    assert surface.summary.note.startswith("detached (interrupted); the task keeps running")
    assert f"%flow attach {task_id}" in surface.summary.note
    assert kernel.session.provider.get_task(task_id).status is TaskStatus.RUNNING
    assert kernel.session.positions.get(task_id) == len(surface.lines)


def test_on_interrupt_cancel_returns_once_the_task_ended(ip, kernel):
    thread = interrupt_when(lambda: kernel.surfaces and len(kernel.last.lines) >= 2)
    _cell(ip, "run --wait --on-interrupt cancel", ticking(100, 0.05))
    thread.join(5)
    task_id = kernel.last.metadata["task_id"]
    assert kernel.session.provider.get_task(task_id).status is TaskStatus.CANCELLED
    assert kernel.last.finished.is_set()
    assert kernel.last.summary.task.status is TaskStatus.CANCELLED


def test_attach_after_a_restart_resumes_with_no_line_lost_or_repeated(ip, tmp_path, project):
    first = start_kernel(ip, tmp_path / "state")
    _cell(ip, "run --name long", ticking(40, 0.03, word="line"))
    wait_until(lambda: len(first.last.lines) >= 5)
    task_id = first.last.metadata["task_id"]
    first.session.close()  # The kernel goes away; the task does not.
    assert first.session.provider.get_task(task_id).status is TaskStatus.RUNNING
    shown_before = list(first.last.lines)
    from IPython.core.interactiveshell import InteractiveShell

    second = start_kernel(InteractiveShell(), tmp_path / "state")
    try:
        second.magics.shell.run_line_magic("flow", f"attach {task_id} --wait")
        assert f"resuming after {len(shown_before)} lines" in second.last.titles[0]
        assert shown_before + second.last.lines == [f"line {i}" for i in range(40)]
        assert second.last.summary.task.status is TaskStatus.COMPLETED
    finally:
        stop_kernel(second)


def test_push_and_pull_round_trip_variables(ip, kernel):
    ip.user_ns.update(base=5, scale=lambda x: x * 3, result=None)
    _cell(ip, "run --wait --push base,scale --pull result", "result = scale(base) + 1\n")
    assert ip.user_ns["result"] == 16
    assert "pulled result" in kernel.last.summary.facts


def test_pull_of_a_name_the_cell_never_set_is_one_line(ip, kernel):
    with pytest.raises(TaskFailedError, match="not defined by the cell: nothing_here"):
        _cell(ip, "run --wait --pull nothing_here", "x = 1\n")


@pytest.mark.parametrize(
    ("prepare", "line", "message"),
    [
        (lambda ns: ns.pop("absent", None), "--push absent", "no variable named absent"),
        (
            lambda ns: ns.update(lock=threading.Lock()),
            "--push lock",
            "cannot pickle lock (TypeError",
        ),
        (lambda ns: None, "--push 1x", "'1x' is not a variable name"),
        (lambda ns: None, "--bash --pull y", "--push and --pull need a Python cell"),
    ],
)
def test_bad_push_or_pull_fails_before_anything_is_submitted(ip, kernel, prepare, line, message):
    prepare(ip.user_ns)
    with pytest.raises(UsageError) as caught:
        _cell(ip, f"run {line}", "print('never')\n")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert kernel.session.provider.list_tasks() == []


def test_secret_values_are_masked_in_the_output_and_never_stored(ip, kernel, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOW_TEST_TOKEN", "tok-s3cret-value")
    body = "import os\nprint('token is', os.environ['FLOW_TEST_TOKEN'])\n"
    _cell(ip, "run --wait --secret FLOW_TEST_TOKEN", body)
    assert kernel.last.lines == ["token is ****"]
    with capture_output() as captured:
        ip.run_line_magic("flow", f"logs {kernel.last.metadata['task_id']}")
    assert captured.stdout == "token is ****\n"
    stored = (tmp_path / "state" / "tasks.json").read_text()
    assert "tok-s3cret-value" not in stored
    assert json.loads(stored)[str(tmp_path / "project")][0]["secret_names"] == ["FLOW_TEST_TOKEN"]


def test_a_prompted_secret_reaches_the_task_and_is_masked(ip, tmp_path, project):
    asked: list[str] = []

    def prompt(name: str) -> str:
        asked.append(name)
        return "typed-s3cret"

    kernel = start_kernel(ip, tmp_path / "state", secret_prompt=prompt)
    try:
        body = "import os\nprint(os.environ['FLOW_TEST_UNSET'] == 'typed-s3cret', 'typed-s3cret')\n"
        _cell(ip, "run --wait --secret FLOW_TEST_UNSET", body)
        assert asked == ["FLOW_TEST_UNSET"]
        assert kernel.last.lines == ["True ****"]
    finally:
        stop_kernel(kernel)


def test_a_failing_cell_with_wait_is_one_line_with_exit_code_and_last_lines(ip, kernel):
    with pytest.raises(TaskFailedError) as caught:
        _cell(ip, "run --wait", "print('working')\nraise ValueError('bad input')\n")
    message = str(caught.value)
    assert "\n" not in message
    assert "failed (exit 1)" in message
    assert message.endswith(
        "ValueError: bad input; full log: %flow logs "
        f"{kernel.last.metadata['task_id']} --tail 10000"
    )


def test_a_bash_cell_runs_in_the_synced_directory(ip, kernel):
    _cell(ip, "run --wait --bash", "cat helper.py\necho to-stderr >&2\n")
    assert kernel.last.lines == ["OFFSET = 100", "to-stderr"]


def test_synced_code_is_importable_from_a_python_cell(ip, kernel):
    _cell(ip, "run --wait", "import helper\nprint(helper.OFFSET + 1)\n")
    assert kernel.last.lines == ["101"]


def test_only_run_takes_a_cell_body(ip, kernel):
    with pytest.raises(UsageError, match="only %%flow run takes a cell body"):
        _cell(ip, "status", "x\n")


def test_an_empty_cell_is_refused(ip, kernel):
    with pytest.raises(UsageError, match="the cell is empty"):
        _cell(ip, "run", "\n  \n")


def test_the_line_magic_masks_its_secrets_when_following(ip, kernel):
    with capture_output() as captured:
        ip.run_line_magic(
            "flow", "run --follow --secret TOKEN=line-s3cret -- bash -c 'echo got $TOKEN'"
        )
    assert "got ****" in captured.stdout.splitlines()
    assert "line-s3cret" not in captured.stdout


def test_a_line_magic_secret_is_masked_by_a_later_kernels_logs(ip, tmp_path, project, monkeypatch):
    monkeypatch.setenv("FLOW_TEST_TOKEN", "line-s3cret-value")
    first = start_kernel(ip, tmp_path / "state")
    try:
        task = ip.run_line_magic(
            "flow", "run --wait --secret FLOW_TEST_TOKEN -- sh -c 'echo token=$FLOW_TEST_TOKEN'"
        )
    finally:
        stop_kernel(first)
    from IPython.core.interactiveshell import InteractiveShell

    second = start_kernel(InteractiveShell(), tmp_path / "state")
    try:
        with capture_output() as captured:
            second.magics.shell.run_line_magic("flow", f"logs {task.task_id}")
    finally:
        stop_kernel(second)
    assert captured.stdout == "token=****\n"
    stored = (tmp_path / "state" / "tasks.json").read_text()
    assert "line-s3cret-value" not in stored and "FLOW_TEST_TOKEN" in stored
