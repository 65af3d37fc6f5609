"""%flow sync, tasks --notebook, wait and attach on the local provider."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.pinned import TaskFailedError

from .conftest import ticking, wait_until


def _line(ip, line: str) -> str:
    with capture_output() as captured:
        ip.run_line_magic("flow", line)
    return captured.stdout


def _waiting_cell(project) -> str:
    flag = project.parent / "go"
    return f"import os, time\nwhile not os.path.exists({str(flag)!r}):\n    time.sleep(0.02)\n"


def test_sync_sends_only_what_changed_to_the_running_task(ip, kernel, project):
    ip.run_cell_magic("flow", "run", _waiting_cell(project))
    task_id = kernel.last.metadata["task_id"]
    assert _line(ip, "sync").startswith(f"synced 0 changed files (0 bytes) of 1 to task {task_id}")
    (project / "helper.py").write_text("OFFSET = 5\n")
    out = _line(ip, f"sync {task_id}")
    assert out.startswith(f"synced 1 changed files (11 bytes) of 1 to task {task_id}; code ")
    work = kernel.session.provider.get_task(task_id).metadata["work_dir"]
    assert (project.parent / work / "helper.py").read_text() == "OFFSET = 5\n"
    (project.parent / "go").write_text("")
    _line(ip, "wait")


def test_tasks_notebook_lists_what_this_notebook_started(ip, kernel):
    assert _line(ip, "tasks --notebook") == "no tasks started from this notebook\n"
    ip.run_cell_magic("flow", "run --wait --name first", "print(1)\n")
    lines = _line(ip, "tasks --notebook").splitlines()
    assert lines[0].split() == ["ID", "PROVIDER", "NAME", "STATUS", "STARTED", "CODE", "GIT"]
    row = lines[1].split()
    assert row[:4] == [kernel.last.metadata["task_id"], "local", "first", "completed"]
    assert row[-2] == kernel.last.metadata["code_digest"][:12]


def test_wait_raises_one_line_when_the_followed_task_failed(ip, kernel):
    ip.run_cell_magic("flow", "run", "import sys\nprint('x')\nsys.exit(4)\n")
    with pytest.raises(TaskFailedError, match=r"failed \(exit 4\): x; full log"):
        ip.run_line_magic("flow", "wait")
    assert kernel.last.summary.task.status is TaskStatus.FAILED


def test_wait_without_a_follower_polls_the_provider(ip, kernel):
    task = ip.run_line_magic("flow", "run -- true")
    out = _line(ip, f"wait {task.task_id}")
    assert out.startswith(f"task {task.task_id} completed")


def test_attach_in_the_same_kernel_moves_the_view_without_repeating_lines(ip, kernel):
    ip.run_cell_magic("flow", "run", ticking(30, 0.02, word="n"))
    first = kernel.last
    wait_until(lambda: len(first.lines) >= 3)
    ip.run_line_magic("flow", f"attach {first.metadata['task_id']} --wait")
    second = kernel.last
    assert first.summary.note == "following moved to a newer cell"
    assert first.lines + second.lines == [f"n {i}" for i in range(30)]


def test_attach_to_an_unknown_task_is_one_line(ip, kernel):
    with pytest.raises(UsageError, match="no task 'local-nope'"):
        ip.run_line_magic("flow", "attach local-nope")


def test_attach_without_an_id_after_a_restart_picks_the_notebooks_running_task(
    ip, tmp_path, project
):
    from IPython.core.interactiveshell import InteractiveShell

    from .conftest import start_kernel, stop_kernel

    first = start_kernel(ip, tmp_path / "state")
    ip.run_cell_magic("flow", "run --name done-first", "print('quick')\n")
    wait_until(lambda: first.last.finished.is_set())
    ip.run_cell_magic("flow", "run --name still-running", _waiting_cell(project))
    running = first.last.metadata["task_id"]
    wait_until(lambda: first.last.statuses or first.last.titles)
    first.session.close()  # The kernel restarts; the task keeps running.
    restarted = InteractiveShell()
    second = start_kernel(restarted, tmp_path / "state")
    try:
        assert second.session.last_task_id is None
        second.magics.shell.run_line_magic("flow", "attach")
        assert second.last.metadata["task_id"] == running
        (project.parent / "go").write_text("")
        assert second.last.finished.wait(30)
        assert second.last.summary.task.status is TaskStatus.COMPLETED
    finally:
        stop_kernel(second)


def test_attach_without_an_id_when_nothing_runs_is_one_line(ip, kernel):
    ip.run_cell_magic("flow", "run", "print('over')\n")
    wait_until(lambda: kernel.last.finished.is_set())
    kernel.session.last_task_id = None  # as after a restart
    with pytest.raises(UsageError, match="no task of this notebook is running"):
        ip.run_line_magic("flow", "attach")
