"""A second Python process sees, follows and cancels tasks of the first (and vice versa)."""

from __future__ import annotations

import subprocess
import sys

from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.providers.local import proc

from .conftest import wait_for, wait_terminal

_PRELUDE = "from flow_notebook.core.registry import get_provider\np = get_provider()\n"


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _PRELUDE + code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_second_process_lists_and_cancels_a_running_task(provider):
    task = provider.submit_task("", TaskConfig(command="sleep 60 & wait"))
    pgid = wait_for(lambda: provider.get_task(task.task_id).metadata.get("pid"))
    listed = _python("print(' '.join(t.task_id + ':' + t.status.value for t in p.list_tasks()))")
    assert listed == f"{task.task_id}:running"
    assert _python(f"print(p.stop_task({task.task_id!r}))") == "True"
    assert not proc.group_alive(pgid)
    assert provider.get_task_status(task.task_id) is TaskStatus.CANCELLED


def test_second_process_follows_logs_until_the_task_ends(provider):
    script = "import time\nfor i in range(5):\n    print('n', i)\n    time.sleep(0.05)\n"
    task = provider.submit_task("", TaskConfig(script=script))
    out = _python(f"print('|'.join(p.stream_task_logs({task.task_id!r})))")
    assert out == "|".join(f"n {i}" for i in range(5))


def test_task_outlives_the_process_that_started_it(provider):
    task_id = _python(
        "from flow_notebook.core.models import TaskConfig\n"
        "print(p.submit_task('', TaskConfig(command='sleep 0.3; echo survived')).task_id)"
    )
    done = wait_terminal(provider, task_id)
    assert done.status is TaskStatus.COMPLETED
    assert provider.get_task_logs(task_id) == "survived"
