"""LogService over a real sshd: tails, follows that end by themselves, resumes after drops."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from flow_notebook.core.errors import ProviderUnavailableError, TaskStateError, ValidationError
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.domain.caches import TtlCache
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.remote import MithrilRemoteOperations, SSHEndpoint

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(30)]


class _Instance:
    """Log paths of one fake instance in a temporary directory (sshd runs locally)."""

    def __init__(self, root: Path) -> None:
        self.stdout = root / "stdout.log"
        self.stderr = root / "stderr.log"
        self.done = root / "done"

    def write(self, *lines: str, log: Path | None = None) -> None:
        with open(log or self.stdout, "a") as handle:
            handle.writelines(f"{line}\n" for line in lines)


@pytest.fixture
def instance(tmp_path: Path) -> _Instance:
    return _Instance(tmp_path)


def _service(remote_ops, instance, status=TaskStatus.RUNNING, **options) -> LogService:
    statuses = status if callable(status) else (lambda task_id: status)
    return LogService(
        remote_ops,
        statuses,
        options.pop("cache", None),
        log_files={"stdout": str(instance.stdout), "stderr": str(instance.stderr)},
        done_marker=str(instance.done),
        **{"file_wait_seconds": 5.0, "reconnect_delay": 0.05, **options},
    )


def test_get_task_logs_returns_the_last_lines(remote_ops, instance):
    instance.write(*(f"line {i}" for i in range(10)))
    instance.write("oops", log=instance.stderr)
    service = _service(remote_ops, instance)
    assert service.get_task_logs("t-1", tail=3) == "line 7\nline 8\nline 9"
    assert service.get_task_logs("t-1", tail=5, log_type="stderr") == "oops"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (TaskStatus.PENDING, "no instance yet"),
        (TaskStatus.PROVISIONING, "no instance yet"),
        (TaskStatus.CANCELLED, "cancelled"),
        (TaskStatus.PAUSED, "paused"),
    ],
)
def test_tasks_without_readable_logs_get_a_one_line_state_error(
    remote_ops, instance, status, words
):
    service = _service(remote_ops, instance, status)
    for call in (
        lambda: service.get_task_logs("t-1"),
        lambda: service.stream_task_logs("t-1"),
    ):
        with pytest.raises(TaskStateError, match=words) as caught:
            call()
        assert "\n" not in str(caught.value)


def test_log_not_written_yet_is_a_state_error(remote_ops, instance):
    with pytest.raises(TaskStateError, match="not started writing its stdout"):
        _service(remote_ops, instance).get_task_logs("t-1")


def test_unknown_log_type_and_bad_tail_are_rejected(remote_ops, instance):
    service = _service(remote_ops, instance)
    with pytest.raises(ValidationError, match="log type"):
        service.get_task_logs("t-1", log_type="stdin")
    with pytest.raises(ValidationError, match="log type"):
        service.stream_task_logs("t-1", log_type="../etc/passwd")
    with pytest.raises(ValidationError, match="tail"):
        service.get_task_logs("t-1", tail=-1)


def test_unreachable_instance_is_a_state_error_naming_ssh(pool, instance):
    gone = MithrilRemoteOperations(
        lambda task_id: [SSHEndpoint("127.0.0.1", 1, "root", "gone")], pool
    )
    with pytest.raises(TaskStateError, match="over SSH"):
        _service(gone, instance).get_task_logs("t-1")


def test_ended_task_logs_are_cached(remote_ops, instance):
    instance.write("final")
    service = _service(remote_ops, instance, TaskStatus.COMPLETED, cache=TtlCache(60))
    assert service.get_task_logs("t-1") == "final"
    instance.write("never read")
    assert service.get_task_logs("t-1") == "final"


def test_running_task_logs_are_not_cached(remote_ops, instance):
    instance.write("first")
    service = _service(remote_ops, instance, cache=TtlCache(60))
    assert service.get_task_logs("t-1") == "first"
    instance.write("second")
    assert service.get_task_logs("t-1") == "first\nsecond"


def _writer(instance: _Instance, lines: list[str], delay: float) -> threading.Thread:
    def write() -> None:
        for line in lines:
            instance.write(line)
            time.sleep(delay)
        instance.done.touch()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_stream_follows_appended_lines_and_ends_after_the_done_marker(remote_ops, instance):
    instance.write("before")
    expected = ["before"] + [f"line {i}" for i in range(20)]
    writer = _writer(instance, expected[1:], 0.02)
    started = time.monotonic()
    lines = list(_service(remote_ops, instance).stream_task_logs("t-1"))
    writer.join(5)
    assert lines == expected
    assert time.monotonic() - started < 5


def test_stream_waits_for_the_log_file_to_appear(remote_ops, instance):
    writer = _writer(instance, ["late"], 0)
    writer.join(5)
    instance.done.unlink()
    threading.Timer(0.5, instance.done.touch).start()
    instance.stdout.rename(instance.stdout.with_suffix(".hidden"))
    threading.Timer(0.3, instance.stdout.with_suffix(".hidden").rename, [instance.stdout]).start()
    assert list(_service(remote_ops, instance).stream_task_logs("t-1")) == ["late"]


def test_stream_gives_up_on_a_log_that_never_appears(remote_ops, instance):
    service = _service(remote_ops, instance, file_wait_seconds=0.4)
    with pytest.raises(TaskStateError, match="not started"):
        list(service.stream_task_logs("t-1"))


def test_stream_from_a_line_skips_the_lines_already_seen(remote_ops, instance):
    instance.write(*(f"line {i}" for i in range(5)))
    instance.done.touch()
    service = _service(remote_ops, instance)
    assert list(service.stream_task_logs_from("t-1", 3)) == ["line 3", "line 4"]


def test_stream_of_an_ended_task_drains_and_stops(remote_ops, instance):
    instance.write("a", "b")
    instance.stdout.open("a").write("no newline")
    instance.done.touch()
    service = _service(remote_ops, instance, TaskStatus.COMPLETED)
    assert list(service.stream_task_logs("t-1")) == ["a", "b", "no newline"]


def test_stream_resumes_after_a_dropped_connection_without_loss_or_repeats(
    remote_ops, instance, sshd
):
    expected = [f"line {i:03d}" for i in range(60)]
    instance.write(*expected[:10])
    stream = _service(remote_ops, instance).stream_task_logs("t-1")
    seen = [next(stream) for _ in range(5)]
    assert sshd.kill_sessions() > 0  # Cuts the connection mid-stream.
    writer = _writer(instance, expected[10:], 0.01)
    seen += list(stream)
    writer.join(5)
    assert seen == expected


def test_stopping_a_stream_early_leaves_no_remote_tail(remote_ops, instance, sshd):
    instance.write("one", "two")
    stream = _service(remote_ops, instance).stream_task_logs("t-1")
    assert next(stream) == "one"
    stream.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _tails_of(instance.stdout):
        time.sleep(0.05)
    assert not _tails_of(instance.stdout)


def _tails_of(path: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0] == b"tail" and str(path).encode() in cmdline:
            found.append(int(proc.name))
    return found


def test_a_stream_that_still_works_survives_an_api_outage_while_it_reconnects(
    remote_ops, instance, sshd
):
    asked: list[str] = []

    def api_down(task_id):
        asked.append(task_id)
        if len(asked) == 1:
            return TaskStatus.RUNNING  # the follow starts while the API answers
        raise ProviderUnavailableError("Mithril API unavailable; circuit open, retrying in 2s")

    expected = [f"line {i:03d}" for i in range(30)]
    instance.write(*expected[:10])
    stream = _service(remote_ops, instance, api_down).stream_task_logs("t-1")
    seen = [next(stream) for _ in range(5)]
    assert sshd.kill_sessions() > 0  # the reconnect asks the (unavailable) API
    writer = _writer(instance, expected[10:], 0.01)
    seen += list(stream)
    writer.join(5)
    assert seen == expected
    assert len(asked) >= 2, "the API was asked (and failed) during the reconnect"
