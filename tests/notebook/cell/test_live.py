"""The live view: coalesced draws, lines in a lull, the byte cap, closing once, surfaces."""

from __future__ import annotations

import threading
import time

from IPython.utils.capture import capture_output

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.live import DisplaySurface, LiveView, PrintSurface
from flow_notebook.notebook.render import RunSummary

from .conftest import RecordingSurface, wait_until


def _view(surface, **kwargs) -> LiveView:
    view = LiveView(surface, task_id="t-1", title="task t-1 (x) running", **kwargs)
    view.open()
    return view


def _summary(kept, dropped, status=TaskStatus.COMPLETED) -> RunSummary:
    return RunSummary(Task(task_id="t-1", name="x", status=status, provider="p"), kept, dropped)


def test_many_fast_lines_are_drawn_in_few_updates_and_all_shown():
    surface = RecordingSurface({})
    view = _view(surface, interval=0.05)
    for i in range(500):
        view.add(f"line {i}")
    view.close(_summary)
    assert surface.lines == [f"line {i}" for i in range(500)]
    assert len(surface.updates) < 20


def test_a_line_arriving_in_a_lull_is_drawn_without_waiting_for_the_next():
    surface = RecordingSurface({})
    view = _view(surface, interval=0.05)
    view.add("first")
    view.add("second")  # Within the interval: left to the timer.
    wait_until(lambda: surface.lines == ["first", "second"], timeout=2)
    view.close(_summary)


def test_shown_count_is_reported_after_each_draw_from_the_resume_point():
    shown: list[int] = []
    view = _view(RecordingSurface({}), start_line=10, on_shown=shown.append, interval=0)
    view.add("a")
    view.add("b")
    assert shown == [11, 12]
    assert view.lines_shown == 12


def test_the_notebook_keeps_only_the_newest_kilobytes():
    surface = RecordingSurface({})
    view = _view(surface, keep_kb=1, interval=0)
    for i in range(100):
        view.add(f"{i:03d}" + "x" * 46)  # 50 bytes with the newline
    kept, dropped = view.kept()
    assert len(kept) == 20 and dropped == 80
    assert kept[-1].startswith("099")
    view.close(_summary)
    assert surface.summary.dropped == 80


def test_after_close_lines_are_refused_and_a_second_close_draws_nothing():
    surface = RecordingSurface({})
    view = _view(surface)
    assert view.close(_summary)
    assert not view.add("late")
    assert not view.close(_summary)
    assert surface.lines == []


def test_concurrent_adds_and_close_never_lose_a_counted_line():
    shown: list[int] = []
    surface = RecordingSurface({})
    view = _view(surface, on_shown=shown.append, interval=0.001)
    accepted: list[str] = []

    def writer() -> None:
        for i in range(2000):
            if view.add(str(i)):
                accepted.append(str(i))

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.005)
    view.close(_summary)
    thread.join()
    assert surface.lines == accepted
    assert view.lines_shown == len(accepted)


def test_print_surface_prints_new_lines_then_the_footer(capsys):
    view = _view(PrintSurface(), interval=0)
    view.add("hello")
    view.close(lambda kept, dropped: _summary(kept, dropped, TaskStatus.FAILED))
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["task t-1 (x) running", "hello", "task t-1 (x) failed"]
    assert out[-1] == "full log: %flow logs t-1 --tail 10000"


def test_display_surface_updates_one_display_with_text_and_html(ip):
    with capture_output() as captured:
        view = _view(DisplaySurface({"task_id": "t-1"}), interval=0)
        view.add("<b>not bold</b>")
        view.close(_summary)
    outputs = captured.outputs
    assert len({out.transient["display_id"] for out in outputs}) == 1
    assert [out.update for out in outputs] == [False, True, True]
    assert "&lt;b&gt;not bold&lt;/b&gt;" in outputs[1].data["text/html"]
    assert outputs[1].data["text/plain"].splitlines() == ["task t-1 (x) running", "<b>not bold</b>"]
    assert outputs[2].metadata["flow_notebook"] == {
        "task_id": "t-1",
        "status": "completed",
        "exit_code": None,
    }


def test_summary_html_escapes_the_task_name_and_output(ip):
    xss = "<script>alert(1)</script>"
    task = Task(task_id="t-1", name=xss, status=TaskStatus.FAILED, provider="p")
    with capture_output() as captured:
        view = _view(DisplaySurface({"task_id": "t-1"}), interval=0)
        view.add(xss)
        view.close(lambda kept, dropped: RunSummary(task, kept, dropped))
    markup = captured.outputs[-1].data["text/html"]
    assert "<script>" not in markup
    assert markup.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
