"""The log viewer: the whole log from line 1 in pages, follow at the tail, search, switch."""

from __future__ import annotations

import re
import time

import pytest

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.widgets.log_spool import LogSpool
from flow_notebook.notebook.widgets.log_viewer import LogViewer, _highlight

from .conftest import WidgetFakeProvider, make_task


@pytest.fixture
def provider() -> WidgetFakeProvider:
    provider = WidgetFakeProvider([make_task(status=TaskStatus.COMPLETED)])
    provider.logs[("task-1", "stdout")] = [f"line {i}" for i in range(1, 1001)]
    provider.logs[("task-1", "stderr")] = ["warning: <slow>"]
    return provider


def _shown(viewer: LogViewer) -> list[str]:
    """The page's lines as text: number and line."""
    text = re.sub(r"<[^>]+>", "", viewer.lines.value)
    return [" ".join(line.split()) for line in text.splitlines()]


def _wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _viewer(provider, **kwargs) -> LogViewer:
    viewer = LogViewer(provider, "task-1", redraw_seconds=0.01, **kwargs).start()
    assert viewer.wait(5)
    _wait(lambda: not viewer.follow.value)  # a finished task opens at line 1
    viewer.redraw()
    return viewer


def test_a_finished_task_opens_at_line_1_and_pages_to_its_last_line(provider):
    viewer = _viewer(provider, page_lines=400)
    try:
        assert _shown(viewer)[0] == "1 line 1" and len(_shown(viewer)) == 400
        assert viewer.position.value == "lines 1–400 of 1,000"
        assert viewer.previous.disabled and not viewer.next.disabled
        viewer.next.click()
        viewer.next.click()
        assert _shown(viewer)[-1] == "1,000 line 1000" and viewer.next.disabled
        viewer.first.click()
        assert _shown(viewer)[0] == "1 line 1"
        assert "whole log read: 1,000 lines" in viewer.status.value
    finally:
        viewer.close()


def test_following_shows_the_tail_in_a_box_that_sticks_to_the_bottom(provider):
    viewer = _viewer(provider, page_lines=400)
    try:
        viewer.last.click()
        assert viewer.follow.value and viewer.follow.description == "Following"
        assert _shown(viewer)[0] == "601 line 601" and _shown(viewer)[-1] == "1,000 line 1000"
        assert "flex-direction:column-reverse" in viewer.lines.value
        viewer.follow.value = False
        assert "flex-direction:column'" in viewer.lines.value
        assert _shown(viewer)[0] == "601 line 601"  # pausing keeps the page in place
    finally:
        viewer.close()


def test_a_running_task_opens_following_and_shows_new_lines():
    provider = WidgetFakeProvider([make_task()])
    provider.logs[("task-1", "stdout")] = ["first"]
    viewer = LogViewer(provider, "task-1", redraw_seconds=0.01).start()
    try:
        _wait(lambda: "first" in viewer.lines.value)
        assert viewer.follow.value
    finally:
        viewer.close()


def test_search_covers_the_whole_log_escaped_marked_and_numbered(provider):
    viewer = _viewer(provider, page_lines=10)
    try:
        viewer.search.value = "LINE 7"
        assert "111 lines of the whole stdout log match" in viewer.matches.value
        assert "<mark>line 7</mark></code>" in viewer.matches.value
        assert ">7</span> <mark>line 7</mark>" in viewer.matches.value
        viewer.search.value = "1000"
        assert "1 line of the whole" in viewer.matches.value
        viewer.search.value = ""
        assert viewer.matches.value == ""
    finally:
        viewer.close()


def test_switching_to_stderr_shows_only_stderr_escaped(provider):
    viewer = _viewer(provider)
    try:
        viewer.stream_switch.value = "stderr"
        assert viewer._reader("stderr").wait(5)
        viewer.redraw()
        assert _shown(viewer) == ["1 warning: &lt;slow&gt;"]
        assert "&lt;slow&gt;" in viewer.lines.value
        viewer.stream_switch.value = "stdout"
        assert "line 1" in viewer.lines.value
    finally:
        viewer.close()


def test_secrets_are_masked_before_they_are_kept():
    provider = WidgetFakeProvider([make_task(status=TaskStatus.COMPLETED)])
    provider.logs[("task-1", "stdout")] = ["token=hunter2"]
    viewer = LogViewer(provider, "task-1", redact=lambda s: s.replace("hunter2", "****"))
    viewer.start().wait(5)
    try:
        assert viewer._reader("stdout").spool.read(0, 1) == ["token=****"]
    finally:
        viewer.close()


def test_fallback_bundle_is_the_tail_as_escaped_text(provider):
    viewer = _viewer(provider)
    try:
        viewer.stream_switch.value = "stderr"
        viewer._reader("stderr").wait(5)
        bundle = viewer._repr_mimebundle_()
        head = "task task-1: whole log read: 1 line (stderr)"
        assert bundle["text/plain"] == f"{head}\nwarning: <slow>"
        assert bundle["text/html"] == f"<p><i>{head}</i></p><pre>warning: &lt;slow&gt;</pre>"
    finally:
        viewer.close()


def test_spool_pages_and_searches_from_disk():
    spool = LogSpool()
    try:
        for i in range(5000):
            spool.append(f"row {i} ünïcode")
        assert spool.count == 5000
        assert spool.read(4998, 6000) == ["row 4998 ünïcode", "row 4999 ünïcode"]
        assert spool.read(10, 5) == []
        found, total = spool.search("ROW 49", limit=3)
        assert total == 111 and found[0] == (50, "row 49 ünïcode")
    finally:
        spool.close()


def test_highlight_escapes_around_marks():
    assert _highlight("a<b>LOSS", "loss") == "a&lt;b&gt;<mark>LOSS</mark>"


def test_saved_output_carries_the_end_of_the_stream_and_the_closed_viewer(monkeypatch):
    import IPython.display

    from .test_dashboard import FakeHandle

    handle = FakeHandle()
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: handle)
    provider = WidgetFakeProvider([make_task()])
    provider.logs[("task-1", "stdout")] = ["one", "two"]
    viewer = LogViewer(provider, "task-1", redraw_seconds=0.01)
    viewer.display()
    viewer.start()
    try:
        _wait(lambda: handle.updates)
        assert (
            handle.updates[0]["text/plain"]
            == "task task-1: whole log read: 2 lines (stdout)\none\ntwo"
        )
    finally:
        viewer.close()
    final = handle.updates[-1]
    assert "application/vnd.jupyter.widget-view+json" not in final
    assert "log viewer closed" in final["text/plain"] and final["text/plain"].endswith("two")


def test_on_the_local_provider_the_reader_follows_a_closable_stream(tmp_path):
    import sys
    import threading

    from flow_notebook.core.models import TaskConfig
    from flow_notebook.providers.local import LocalProvider

    provider = LocalProvider(tmp_path / "local")
    try:
        code = "import sys,time; print('out 1'); print('err 1', file=sys.stderr); time.sleep(60)"
        task = provider.submit_task("", TaskConfig(command=[sys.executable, "-u", "-c", code]))
        viewer = LogViewer(provider, task.task_id, redraw_seconds=0.01).start()
        _wait(lambda: viewer._reader("stdout").spool.count == 1)
        viewer.stream_switch.value = "stderr"
        _wait(lambda: viewer._reader("stderr").spool.read(0, 1) == ["err 1"])
        reader = viewer._reader("stdout")
        viewer.close()
        assert reader.wait(5)  # a silent task: closing the stream ends the reader
        # The reader is a Follow of the log (the cells' engine): its thread ends too.
        name = f"flow-follow-{task.task_id}"
        _wait(lambda: not [t for t in threading.enumerate() if t.name == name])
        assert reader.error is None and not reader.ended  # stopped, not read to the end
        provider.cancel_task(task.task_id)
    finally:
        provider.close()
