"""The log viewer widget: appended output, follow/pause, search, stdout/stderr switch."""

from __future__ import annotations

import pytest

from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.widgets.log_viewer import LogViewer, _highlight

from .conftest import WidgetFakeProvider, make_task


@pytest.fixture
def provider() -> WidgetFakeProvider:
    provider = WidgetFakeProvider([make_task()])
    provider.logs[("task-1", "stdout")] = ["epoch 1 loss 0.9", "epoch 2 loss 0.5", "done"]
    provider.logs[("task-1", "stderr")] = ["warning: <slow>"]
    return provider


def _text(viewer: LogViewer) -> str:
    return "".join(item["text"] for item in viewer.output.outputs)


def _viewer(provider, tmp_path) -> LogViewer:
    viewer = LogViewer(provider, "task-1", LogPositions(tmp_path / "p")).start()
    assert viewer.feed.wait(5)
    return viewer


def test_streamed_lines_are_appended_to_the_output(provider, tmp_path):
    viewer = _viewer(provider, tmp_path)
    assert _text(viewer) == "epoch 1 loss 0.9\nepoch 2 loss 0.5\ndone\n"
    assert all(item["name"] == "stdout" for item in viewer.output.outputs)
    assert "stream ended" in viewer.status.value
    viewer.close()


def test_paused_viewer_holds_lines_until_following_again(provider, tmp_path):
    viewer = LogViewer(provider, "task-1", LogPositions(tmp_path / "p"))
    viewer.follow.value = False
    assert viewer.follow.description == "Paused"
    viewer.start()
    viewer.feed.wait(5)
    assert viewer.output.outputs == ()
    viewer.follow.value = True
    assert _text(viewer).count("\n") == 3
    viewer.close()


def test_search_lists_matching_lines_escaped_and_marked(provider, tmp_path):
    viewer = _viewer(provider, tmp_path)
    viewer.search.value = "LOSS"
    assert "2 of 3 lines match" in viewer.matches.value
    assert "<mark>loss</mark> 0.9" in viewer.matches.value
    viewer.search.value = ""
    assert viewer.matches.value == ""
    viewer.close()


def test_switching_to_stderr_shows_only_stderr(provider, tmp_path):
    viewer = _viewer(provider, tmp_path)
    viewer.stream_switch.value = "stderr"
    viewer.feed.wait(5)
    viewer._on_line("stderr", "")  # a late line after the switch draws nothing twice
    assert [item["name"] for item in viewer.output.outputs] == ["stderr"]
    assert _text(viewer) == "warning: <slow>\n"
    viewer.stream_switch.value = "stdout"
    assert _text(viewer).startswith("epoch 1")
    viewer.close()


def test_a_new_viewer_after_restart_resumes_and_says_so(provider, tmp_path):
    _viewer(provider, tmp_path).close()
    provider.logs[("task-1", "stdout")].append("after restart")
    again = _viewer(provider, tmp_path)
    assert _text(again) == "after restart\n"
    assert "resumed after 3 stdout lines" in again.note.value
    again.close()


def test_fallback_bundle_is_escaped_text(provider, tmp_path):
    viewer = _viewer(provider, tmp_path)
    viewer.stream_switch.value = "stderr"
    viewer.feed.wait(5)
    bundle = viewer._repr_mimebundle_()
    assert bundle["text/plain"] == "warning: <slow>"
    assert bundle["text/html"] == "<pre>warning: &lt;slow&gt;</pre>"
    viewer.close()


def test_highlight_escapes_around_marks():
    assert _highlight("a<b>LOSS", "loss") == "a&lt;b&gt;<mark>LOSS</mark>"
