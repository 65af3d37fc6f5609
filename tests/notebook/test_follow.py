"""Following a task: lines as written, the outcome, interrupts that leave the task running."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.follow import follow_logs, wait_for_task, wait_until_ended
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.session import FlowSession, Timing


def _session(provider, tmp_path) -> FlowSession:
    return FlowSession(
        lambda name=None: provider,
        LogPositions(tmp_path / "positions"),
        Timing(poll_interval=0.01, settle_timeout=0.5),
    )


def test_follow_prints_every_line_then_the_outcome(fake_class, tmp_path, capsys):
    provider = fake_class(lines=("a", "b"))
    session = _session(provider, tmp_path)
    task = provider.submit_task("cpu", _config())
    ended = follow_logs(session, task.task_id)
    assert capsys.readouterr().out.splitlines()[:2] == ["a", "b"]
    assert ended.status is TaskStatus.COMPLETED


def test_follow_reports_a_failed_exit_code_in_one_line(fake_class, tmp_path, capsys):
    provider = fake_class(lines=("x",), final=TaskStatus.FAILED, exit_code=3)
    session = _session(provider, tmp_path)
    task = provider.submit_task("cpu", _config())
    follow_logs(session, task.task_id)
    assert capsys.readouterr().out.splitlines()[-1] == f"task {task.task_id} failed (exit 3)"


def test_interrupt_stops_following_but_never_the_task(fake_class, tmp_path, capsys):
    provider = fake_class(lines=("a", "b", "c"), interrupt_after=2)
    session = _session(provider, tmp_path)
    task_id = provider.submit_task("cpu", _config()).task_id
    seen = follow_logs(session, task_id)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["a", "b"]
    assert out[2] == (
        f"stopped following task {task_id} (interrupted); it keeps running: "
        f"%flow logs {task_id} --follow to watch it, %flow cancel {task_id} to stop it"
    )
    assert seen.status is TaskStatus.RUNNING
    assert provider.cancelled == []
    assert session.positions.get(task_id) == 2


def test_follow_resumes_after_the_lines_already_shown(use_fake, tmp_path, capsys):
    provider = use_fake(resumable=True, lines=("a", "b", "c"), interrupt_after=1)
    session = _session(provider, tmp_path)
    task_id = provider.submit_task("cpu", _config()).task_id
    follow_logs(session, task_id)
    provider.interrupt_after = None
    capsys.readouterr()
    follow_logs(session, task_id)
    out = capsys.readouterr().out.splitlines()
    assert provider.stream_starts == [0, 1]
    assert out[0] == f"(resuming {task_id} after 1 lines already shown)"
    assert out[1:3] == ["b", "c"]
    assert session.positions.get(task_id) == 3


def test_follow_timeout_leaves_the_task_running(fake_class, tmp_path, capsys):
    provider = fake_class(lines=("a", "b"))
    session = _session(provider, tmp_path)
    task_id = provider.submit_task("cpu", _config()).task_id
    seen = follow_logs(session, task_id, timeout=0)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "a"
    assert out[1].startswith(f"stopped following task {task_id} (timeout 0s)")
    assert seen.status is TaskStatus.RUNNING


def test_wait_returns_when_the_task_ends(fake_class):
    provider = fake_class()
    task_id = provider.submit_task("cpu", _config()).task_id
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            provider.end(task_id, TaskStatus.COMPLETED, 0)

    task = wait_until_ended(provider, task_id, timeout=5, interval=0.25, sleep=sleep)
    assert task.status is TaskStatus.COMPLETED
    assert polls == [0.25, 0.25, 0.25]


def test_wait_gives_up_after_timeout_and_says_how_to_reattach(fake_class, tmp_path, capsys):
    provider = fake_class()
    session = _session(provider, tmp_path)
    task_id = provider.submit_task("cpu", _config()).task_id
    task = wait_for_task(session, task_id, timeout=0.05)
    assert task.status is TaskStatus.RUNNING
    assert capsys.readouterr().out.startswith(f"task {task_id} still running after 0s; %flow logs")


def _config():
    from flow_notebook.core.models import TaskConfig

    return TaskConfig(command=["echo", "hi"])


def test_a_stream_failure_still_records_the_lines_shown(fake_class, tmp_path, capsys):
    import pytest

    from flow_notebook.core.errors import RemoteOperationError

    provider = fake_class(lines=("a", "b"))
    session = _session(provider, tmp_path)
    task_id = provider.submit_task("cpu", _config()).task_id

    def broken_stream(task_id, log_type="stdout"):
        yield "a"
        raise RemoteOperationError("log stream lost")

    provider.stream_task_logs = broken_stream
    with pytest.raises(RemoteOperationError):
        follow_logs(session, task_id)
    assert session.positions.get(task_id) == 1
