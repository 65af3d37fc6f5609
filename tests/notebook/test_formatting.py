"""Plain-text rendering: durations, outcomes, tables and detail blocks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.formatting import format_duration, outcome_line, table, task_details

_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _task(**changes) -> Task:
    values = dict(task_id="t1", name="n", status=TaskStatus.RUNNING, provider="local")
    return Task(**{**values, **changes})


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (0, "0s"), (59.9, "59s"), (65, "1m 05s"), (7380, "2h 03m")]
)
def test_durations_read_like_a_clock(seconds, text):
    assert format_duration(seconds) == text


def test_outcome_lines_name_the_exit_code_or_runtime():
    done = _task(
        status=TaskStatus.COMPLETED, started_at=_START, completed_at=_START + timedelta(seconds=5)
    )
    assert outcome_line(_task(status=TaskStatus.FAILED, exit_code=3)) == "task t1 failed (exit 3)"
    assert outcome_line(_task(status=TaskStatus.FAILED, message="oom")) == "task t1 failed (oom)"
    assert outcome_line(done) == "task t1 completed in 5s"
    assert outcome_line(_task(status=TaskStatus.CANCELLED)) == "task t1 cancelled"


def test_table_aligns_columns_two_spaces_apart():
    assert table([("a", "bbb"), ("cc", "d")], ("X", "Y")) == "X   Y\na   bbb\ncc  d"


def test_details_skip_unknown_facts():
    text = task_details(
        _task(
            exit_code=0,
            cost_per_hour=3.6,
            started_at=_START,
            completed_at=_START + timedelta(seconds=100),
        )
    )
    labels = [line.split(":")[0] for line in text.splitlines()]
    assert labels == [
        "task",
        "name",
        "status",
        "provider",
        "created",
        "started",
        "ended",
        "runtime",
        "exit code",
        "cost",
    ]
    assert "cost:      $0.10" in text


def test_details_name_the_container_image_a_task_runs_in():
    text = task_details(_task(command="python train.py", metadata={"image": "pytorch/pytorch:2.3"}))
    facts = [
        (label, value.strip())
        for label, _, value in map(lambda x: x.partition(":"), text.splitlines())
    ]
    labels = [label for label, _ in facts]
    assert labels[labels.index("command") + 1] == "image"
    assert ("image", "pytorch/pytorch:2.3") in facts
