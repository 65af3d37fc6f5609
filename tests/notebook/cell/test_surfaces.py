"""What the surfaces draw: stream outputs in pages, caps with a note, buttons, plain text."""

from __future__ import annotations

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.core.provider_interfaces import LogChunk
from flow_notebook.notebook.render import RunSummary
from flow_notebook.notebook.surfaces import PAGE_LINES, CellView, PlainSurface

TASK = Task(task_id="t-1", name="demo", status=TaskStatus.RUNNING, provider="local")


def _view(**kwargs) -> CellView:
    view = CellView("t-1", display=lambda *args, **kw: None, **kwargs)
    view.begin(TASK, {})
    return view


def _outputs(view: CellView) -> list[dict]:
    return [out for page in view.inner.children for out in page.outputs]


def test_stdout_and_stderr_become_stream_outputs_in_order():
    view = _view()
    view.write(
        [LogChunk("stdout", "a\nb\n"), LogChunk("stderr", "boom\n"), LogChunk("stdout", "c\n")]
    )
    assert [(out["name"], out["text"]) for out in _outputs(view)] == [
        ("stdout", "a\nb\n"),
        ("stderr", "boom\n"),
        ("stdout", "c\n"),
    ]


def test_a_progress_bar_is_one_line_rewritten_in_place():
    view = _view()
    view.write([LogChunk("stderr", "\r 10%|#")])
    view.write([LogChunk("stderr", "\r 55%|#####")])
    assert [out["text"] for out in _outputs(view)] == [" 55%|#####"]


def test_full_pages_are_left_alone_and_new_ones_appended():
    view = _view()
    view.write([LogChunk("stdout", "".join(f"x {i}\n" for i in range(PAGE_LINES * 3)))])
    first_page = view.inner.children[0]
    before = first_page.outputs
    view.write([LogChunk("stdout", "late\n")])
    assert view.inner.children[0] is first_page
    assert first_page.outputs is before
    assert _outputs(view)[-1]["text"].endswith("late\n")


def test_the_cap_drops_old_pages_and_says_how_to_see_them():
    view = _view(keep_kb=1)
    view.write([LogChunk("stdout", "".join(f"line {i:04d} {'y' * 40}\n" for i in range(500)))])
    shown = "".join(out["text"] for out in _outputs(view))
    assert len(shown) <= 1024 + 64
    assert shown.rstrip("\n").endswith(f"line 0499 {'y' * 40}")
    hidden = view.transcript.dropped
    assert hidden > 400
    assert f"{hidden} lines not shown here" in view.header.value
    assert "%flow logs t-1" in view.header.value
    assert f"{hidden} lines not shown here" in view.text()


def test_cancel_asks_first_and_detach_acts_at_once():
    calls: list[str] = []
    view = _view()
    view.connect(on_cancel=lambda: calls.append("cancel"), on_detach=lambda: calls.append("detach"))
    view.cancel.click()
    assert calls == []
    assert view.confirm.layout.display is None
    view.confirm_yes.click()
    view.detach.click()
    assert calls == ["cancel", "detach"]


def test_the_end_hides_the_buttons_and_keeps_the_final_status_in_text():
    view = _view()
    view.write([LogChunk("stdout", "\x1b[32mok\x1b[0m\n")])
    ended = TASK.model_copy(update={"status": TaskStatus.COMPLETED, "exit_code": 0})
    view.end(RunSummary(ended, ["ok"], 0, ["code abc"]))
    assert view.controls.layout.display == "none"
    text = view.text()
    assert "ok" in text and "\x1b" not in text
    assert "task t-1 (demo) completed" in text
    assert "completed" in view.header.value


def test_plain_surface_prints_streams_apart_and_caps_with_a_note():
    out: list[str] = []
    err: list[str] = []
    surface = PlainSurface(1, out=out.append, err=err.append)
    surface.begin(TASK, {})
    surface.write([LogChunk("stderr", "warn\n")])
    surface.write([LogChunk("stdout", "".join(f"n {i:05d}\n" for i in range(2000)))])
    surface.end(RunSummary(TASK.model_copy(update={"status": TaskStatus.COMPLETED}), [], 0))
    printed = "".join(out)
    assert err == ["warn\n"]
    assert len(printed) < 1024 + 400
    assert "n 00000" in printed and "n 01999" in printed
    assert "lines not shown here (the full log: %flow logs t-1 --tail N)" in printed
