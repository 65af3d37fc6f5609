"""LogFeed: background streams into buffers, recorded positions, resume, search."""

from __future__ import annotations

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.widgets.log_feed import LogFeed

from .conftest import WidgetFakeProvider, make_task


def _provider(lines: list[str], log_type: str = "stdout") -> WidgetFakeProvider:
    provider = WidgetFakeProvider([make_task()])
    provider.logs[("task-1", log_type)] = lines
    return provider


def test_lines_arrive_in_the_buffer_and_through_the_callback(tmp_path):
    seen = []
    feed = LogFeed(
        _provider(["a", "b"]),
        "task-1",
        LogPositions(tmp_path / "p"),
        on_line=lambda log_type, line: seen.append((log_type, line)),
    )
    feed.start()
    assert feed.wait(5)
    assert feed.snapshot("stdout") == ["a", "b"]
    assert seen == [("stdout", "a"), ("stdout", "b")]
    assert feed.ended["stdout"]


def test_received_lines_are_recorded_and_a_new_feed_resumes_after_them(tmp_path):
    positions = LogPositions(tmp_path / "p")
    provider = _provider(["a", "b", "c"])
    first = LogFeed(provider, "task-1", positions)
    first.start()
    first.wait(5)
    assert positions.get("task-1") == 3
    provider.logs[("task-1", "stdout")].append("d")
    second = LogFeed(provider, "task-1", positions)
    second.start()
    second.wait(5)
    assert second.start_line["stdout"] == 3
    assert second.snapshot("stdout") == ["d"]
    assert positions.get("task-1") == 4


def test_stdout_and_stderr_have_their_own_buffers_and_positions(tmp_path):
    provider = _provider(["out"])
    provider.logs[("task-1", "stderr")] = ["err1", "err2"]
    positions = LogPositions(tmp_path / "p")
    feed = LogFeed(provider, "task-1", positions)
    feed.start("stdout")
    feed.start("stderr")
    feed.start("stderr")
    feed.wait(5)
    assert feed.snapshot("stderr") == ["err1", "err2"]
    assert positions.get("task-1", "stderr") == 2
    assert sorted(provider.stream_starts) == [("stderr", 0), ("stdout", 0)]


def test_search_ignores_case(tmp_path):
    feed = LogFeed(
        _provider(["Loss 0.5", "acc 0.9", "loss 0.4"]), "task-1", LogPositions(tmp_path / "p")
    )
    feed.start()
    feed.wait(5)
    assert feed.search("stdout", "LOSS") == ["Loss 0.5", "loss 0.4"]


def test_a_failing_stream_reports_one_line_and_keeps_what_arrived(tmp_path):
    class Failing(WidgetFakeProvider):
        def stream_task_logs_from(self, task_id, start_line=0, log_type="stdout"):
            yield "first\n"
            raise RemoteOperationError("connection lost")

    ends = []
    positions = LogPositions(tmp_path / "p")
    feed = LogFeed(Failing([make_task()]), "task-1", positions, on_end=lambda t, e: ends.append(e))
    feed.start()
    feed.wait(5)
    assert ends == ["connection lost"]
    assert feed.snapshot("stdout") == ["first"]
    assert positions.get("task-1") == 1
