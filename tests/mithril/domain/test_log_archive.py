"""LogArchive and TaskLogs: logs kept after the instance is gone; follows wait for the start."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from flow_notebook.core.errors import TaskNotFoundError, TaskStateError, ValidationError
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.domain.log_archive import LogArchive, TaskLogs

S = TaskStatus


class FakeRemote:
    """Instance files by a part of their path (as RemoteFiles would serve them)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.content = files

    @contextmanager
    def files(self, task_id: str):
        yield self

    def _find(self, remote: str) -> str | None:
        return next((text for path, text in self.content.items() if path in remote), None)

    def exists(self, remote: str) -> bool:
        return self._find(remote) is not None

    def get(self, remote: str, local_dir: Path, relative: str) -> Path:
        fd, tmp = tempfile.mkstemp(dir=local_dir, prefix=f".{relative}.", suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(self._find(remote) or "")
        os.replace(tmp, local_dir / relative)
        return local_dir / relative


class FakeLive:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def get_task_logs(self, task_id, tail=100, log_type="stdout"):
        self.calls.append(("get", task_id))
        return "live"

    def stream_task_logs_from(self, task_id, start_line=0, log_type="stdout", *, closer=None):
        self.calls.append(("stream", task_id, start_line))
        return iter(["live line"])


class Statuses:
    """Returns the given statuses in turn (the last one repeats)."""

    def __init__(self, *statuses: TaskStatus) -> None:
        self.left = list(statuses)

    def __call__(self, task_id: str) -> TaskStatus:
        if task_id == "bid_missing":
            raise TaskNotFoundError("no Mithril task bid_missing")
        return self.left.pop(0) if len(self.left) > 1 else self.left[0]


@pytest.fixture
def archive(tmp_path) -> LogArchive:
    remote = FakeRemote({"stdout.log": "a\nb\nc\n", "stderr.log": "oops\n"})
    return LogArchive(tmp_path / "logs", remote)


def _logs(archive, *statuses) -> tuple[TaskLogs, FakeLive]:
    live = FakeLive()
    logs = TaskLogs(live, archive, Statuses(*statuses), start_poll=0.0, sleep=lambda s: None)
    return logs, live


def test_archived_logs_are_served_without_ssh(archive):
    archive.save("bid_1")
    logs, live = _logs(archive, S.COMPLETED)
    assert logs.get_task_logs("bid_1", tail=2) == "b\nc"
    assert logs.get_task_logs("bid_1", log_type="stderr") == "oops"
    assert logs.get_task_logs("bid_1", tail=0) == ""
    assert list(logs.stream_from("bid_1", 1)) == ["b", "c"]
    assert live.calls == []


def test_without_an_archive_logs_are_read_live(archive):
    logs, live = _logs(archive, S.RUNNING)
    assert logs.get_task_logs("bid_2") == "live"
    assert list(logs.stream_from("bid_2", 3)) == ["live line"]
    assert live.calls == [("get", "bid_2"), ("stream", "bid_2", 3)]


def test_follow_of_a_pending_task_waits_until_it_runs(archive):
    logs, live = _logs(archive, S.PENDING, S.PENDING, S.PROVISIONING, S.RUNNING)
    stream = logs.stream_from("bid_3")
    assert live.calls == []  # nothing happens before the first next()
    assert list(stream) == ["live line"]


def test_follow_of_a_task_cancelled_before_it_ran_yields_nothing(archive):
    logs, live = _logs(archive, S.PENDING, S.CANCELLED)
    assert list(logs.stream_from("bid_4")) == []
    assert live.calls == []


def test_unknown_task_fails_before_iterating_and_bad_arguments_are_refused(archive):
    logs, _ = _logs(archive, S.RUNNING)
    with pytest.raises(TaskNotFoundError):
        logs.stream_from("bid_missing")
    with pytest.raises(ValidationError):
        logs.stream_from("bid_1", -1)
    archive.save("bid_1")
    with pytest.raises(ValidationError):
        logs.get_task_logs("bid_1", tail=-1)


def test_archive_refuses_ids_that_could_escape_its_directory(archive):
    with pytest.raises(ValidationError):
        archive.save("../etc")
    assert archive.lines("../etc", "stdout") is None


def test_concurrent_saves_of_one_task_never_collide(tmp_path):
    import threading

    remote = FakeRemote({"stdout": "".join(f"line {i}\n" for i in range(2000))})
    archive = LogArchive(tmp_path / "logs", remote, log_files={"stdout": "/var/log/stdout"})
    errors: list[Exception] = []
    barrier = threading.Barrier(5, timeout=10)

    def save() -> None:
        barrier.wait()
        try:
            archive.save("bid_1")
        except Exception as exc:  # noqa: BLE001 - the test collects what escaped
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert archive.lines("bid_1", "stdout") == [f"line {i}" for i in range(2000)]
    assert [p.name for p in (tmp_path / "logs" / "bid_1").iterdir()] == ["stdout.log"]


def test_archived_logs_are_0600_in_0700_directories(tmp_path):
    import stat

    remote = FakeRemote({"stdout": "secret output\n"})
    archive = LogArchive(tmp_path / "logs", remote, log_files={"stdout": "/var/log/stdout"})
    archive.save("bid_1")
    task_dir = tmp_path / "logs" / "bid_1"
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "logs", task_dir)]
    assert modes == [0o700, 0o700]
    assert stat.S_IMODE((task_dir / "stdout.log").stat().st_mode) == 0o600


def test_archived_lines_end_at_newline_only_as_live_follows_count_them(tmp_path):
    text = "a\rb\n\x0bc\u2028d\n\x1c\x85e\nlast"
    remote = FakeRemote({"stdout": text})
    archive = LogArchive(tmp_path / "logs", remote, log_files={"stdout": "/var/log/stdout"})
    archive.save("bid_1")
    assert archive.lines("bid_1", "stdout") == ["a\rb", "\x0bc\u2028d", "\x1c\x85e", "last"]


def test_a_log_larger_than_8_mb_is_archived_whole(tmp_path):
    text = "".join(f"line {i:07d} {'x' * 90}\n" for i in range(120_000))  # about 12 MB
    remote = FakeRemote({"stdout": text})
    archive = LogArchive(tmp_path / "logs", remote, log_files={"stdout": "/var/log/stdout"})
    archive.save("bid_1")
    lines = archive.lines("bid_1", "stdout")
    assert len(lines) == 120_000 and lines[0].startswith("line 0000000")


class CountingStatuses(Statuses):
    """``Statuses`` that counts the reads."""

    def __init__(self, *statuses: TaskStatus) -> None:
        super().__init__(*statuses)
        self.reads = 0

    def __call__(self, task_id: str) -> TaskStatus:
        self.reads += 1
        return super().__call__(task_id)


def test_one_status_read_per_operation(archive):
    archive.save("bid_1")
    statuses = CountingStatuses(S.RUNNING)
    logs = TaskLogs(FakeLive(), archive, statuses, start_poll=0.0, sleep=lambda s: None)
    assert logs.get_task_logs("bid_1", tail=1) == "c"
    assert statuses.reads == 0  # an archived log needs no status
    assert list(logs.stream_from("bid_1", 2)) == ["c"]
    assert statuses.reads == 1
    stream = logs.open_log_stream("bid_1", log_types=("stdout", "stderr"))
    try:
        texts = []
        while (chunks := stream.read(5)) is not None:
            texts.extend(chunk.text for chunk in chunks)
        assert "".join(texts).count("\n") == 4  # a, b, c and oops
    finally:
        stream.close()
    assert statuses.reads == 2  # the stream_from above, then one to open both logs


def test_a_task_that_ends_between_the_status_read_and_the_live_read_is_served_from_the_archive(
    archive,
):
    class GoneLive(FakeLive):
        def stream_task_logs_from(self, task_id, start_line=0, log_type="stdout", *, closer=None):
            archive.save(task_id)  # the finish archived, then terminated the bid
            raise TaskStateError(f"task {task_id} has no instance with SSH yet")

    logs = TaskLogs(GoneLive(), archive, Statuses(S.RUNNING, S.FAILED), sleep=lambda s: None)
    assert list(logs.stream_from("bid_5", 1)) == ["b", "c"]
