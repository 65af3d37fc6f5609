"""%flow ssh: the ssh command, or one line saying why there is none."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.models import TaskStatus

from .widgets.conftest import FullFakeProvider, make_task


def test_prints_the_ssh_command(use_provider, flow):
    use_provider(FullFakeProvider([make_task()]))
    assert flow("ssh task-1")[1] == "ssh -p 2222 ubuntu@10.0.0.5\n"


@pytest.mark.parametrize(
    ("task", "runs_here", "message"),
    [
        (make_task(ssh=False), True, "runs on this machine"),
        (make_task(ssh=False, status=TaskStatus.PENDING), False, "no SSH address yet (pending)"),
        (make_task(ssh=False, status=TaskStatus.FAILED), False, "has ended (failed)"),
    ],
)
def test_no_ssh_access_is_one_line(use_provider, flow, task, runs_here, message):
    use_provider(FullFakeProvider([task], runs_here=runs_here))
    with pytest.raises(UsageError, match=re.escape(message)):
        flow("ssh task-1")


def test_unknown_task_is_one_line(use_provider, flow):
    use_provider(FullFakeProvider())
    with pytest.raises(UsageError, match="no task 'nope'"):
        flow("ssh nope")
