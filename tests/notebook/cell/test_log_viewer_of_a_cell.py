"""The log viewer of a ``%%flow run`` cell's task: its stdout and its stderr, each from line 1."""

from __future__ import annotations

from flow_notebook.notebook.widgets.log_viewer import LogViewer

BODY = """\
import sys
print("out 1")
print("err 1", file=sys.stderr)
print("out 2")
"""


def test_the_stderr_switch_shows_what_a_cell_wrote_to_stderr(ip, kernel):
    ip.run_cell_magic("flow", "run --wait", BODY)
    task_id = kernel.session.last_task_id
    viewer = LogViewer(kernel.session.provider, task_id, redraw_seconds=0.01).start()
    try:
        assert viewer.wait(10)
        assert viewer._reader("stdout").spool.read(0, 10)[:2] == ["out 1", "out 2"]
        viewer.stream_switch.value = "stderr"
        assert viewer._reader("stderr").wait(10)
        assert "err 1" in viewer._reader("stderr").spool.read(0, 10)
        viewer.redraw()
        assert "err 1" in viewer.lines.value
    finally:
        viewer.close()
