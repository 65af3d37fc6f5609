"""The follow engine on the local provider: batches, both logs, stop, resume, hand-over."""

from __future__ import annotations

import sys
import threading

import pytest

from flow_notebook.core.config import load_config
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.notebook.follow import Follow, FollowOptions, Timing, failure_line
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.providers.local import LocalProvider

from .cell.conftest import RecordingSurface, wait_until

PY = sys.executable


@pytest.fixture
def local():
    provider = LocalProvider.from_config(load_config())
    yield provider
    for task in provider.list_active_tasks():
        provider.cancel_task(task.task_id)
    provider.close()


def _run(local, script: str):
    return local.submit_task("", TaskConfig(command=[PY, "-u", "-c", script]))


def _follow(local, task, positions, surface=None, **kwargs) -> Follow:
    options = FollowOptions(timing=Timing(poll_interval=0.02, settle_timeout=10.0), **kwargs)
    return Follow(local, task, surface or RecordingSurface({}), positions, options).start()


def test_stdout_and_stderr_arrive_in_order_in_few_batches(local, tmp_path):
    script = (
        "import sys\n"
        "for i in range(3000): print('line', i)\n"
        "sys.stdout.flush(); print('oops', file=sys.stderr)"
    )
    positions = LogPositions(tmp_path / "positions")
    follow = _follow(local, _run(local, script), positions)
    assert follow.wait(30)
    surface = follow.surface
    assert surface.lines == [f"line {i}" for i in range(3000)] + ["oops"]
    assert [kind for kind, _ in surface.streams][-1] == "stderr"
    assert len(surface.updates) < 300, "output goes out in batches, not one draw per line"
    assert surface.summary.task.status is TaskStatus.COMPLETED
    assert positions.get(follow.task_id) == 3000
    assert positions.get(follow.task_id, "stderr") == 1


def test_stop_ends_a_follow_of_a_silent_task_and_leaves_the_task_running(local, tmp_path):
    task = _run(local, "import time; print('hello'); time.sleep(60)")
    follow = _follow(local, task, LogPositions(tmp_path / "positions"))
    wait_until(lambda: follow.surface.lines == ["hello"])
    follow.stop("detached by the test")
    assert follow.wait(5)
    assert follow.summary.note == "detached by the test"
    assert local.get_task(task.task_id).status is TaskStatus.RUNNING


def test_a_new_follow_resumes_after_the_recorded_lines(local, tmp_path):
    script = "import time\nfor i in range(30):\n    print('n', i)\n    time.sleep(0.02)"
    positions = LogPositions(tmp_path / "positions")
    task = _run(local, script)
    first = _follow(local, task, positions)
    wait_until(lambda: len(first.surface.lines) >= 5)
    first.stop("moved")
    assert first.wait(5)
    second = _follow(local, task, positions)
    assert second.wait(30)
    assert first.surface.lines + second.surface.lines == [f"n {i}" for i in range(30)]


def test_hand_over_moves_the_rest_of_the_output_to_another_surface(local, tmp_path):
    script = "import time\nfor i in range(30):\n    print('h', i)\n    time.sleep(0.02)"
    first = _follow(local, _run(local, script), LogPositions(tmp_path / "positions"))
    wait_until(lambda: len(first.surface.lines) >= 3)
    second = first.hand_over(RecordingSurface({}))
    assert second.wait(30)
    assert first.summary.note == "following moved to a newer view"
    assert first.surface.lines + second.surface.lines == [f"h {i}" for i in range(30)]


def test_secrets_are_masked_and_pull_lines_kept_out(local, tmp_path):
    class Finisher:
        def __init__(self):
            self.data: list[str] = []

        def consume(self, line):
            if line.startswith("DATA:"):
                self.data.append(line)
                return True
            return False

        def ended(self, task, kept, dropped):
            from flow_notebook.notebook.render import RunSummary

            return RunSummary(task, kept, dropped)

    finisher = Finisher()
    script = "print('key s3cr3t'); print('DATA:1'); print('after')"
    follow = _follow(
        local,
        _run(local, script),
        LogPositions(tmp_path / "positions"),
        redact=lambda text: text.replace("s3cr3t", "****"),
        finisher=finisher,
    )
    assert follow.wait(30)
    assert follow.surface.lines == ["key ****", "after"]
    assert finisher.data == ["DATA:1"]


def test_an_unfinished_line_is_drawn_when_the_task_ends(local, tmp_path):
    script = "import sys; sys.stdout.write('50%\\r100%')"
    follow = _follow(local, _run(local, script), LogPositions(tmp_path / "positions"))
    assert follow.wait(30)
    assert "".join(text for _, text in follow.surface.streams) == "50%\r100%"


def test_failure_line_names_the_exception_and_the_exit_code(local):
    task = local.get_task(_run(local, "raise ValueError('bad')").task_id)
    wait_until(lambda: local.get_task(task.task_id).is_terminal)
    task = local.get_task(task.task_id)
    lines = ["Traceback (most recent call last):", '  File "x"', "ValueError: bad", ""]
    assert failure_line(task, lines) == f"task {task.task_id} failed (exit 1): ValueError: bad"


def test_stop_from_another_thread_while_reading_never_raises(local, tmp_path):
    task = _run(local, "import time; time.sleep(60)")
    follow = _follow(local, task, LogPositions(tmp_path / "positions"))
    stoppers = [threading.Thread(target=follow.stop, args=("stop",)) for _ in range(5)]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
    assert follow.wait(5)
    assert follow.summary.note == "stop"
