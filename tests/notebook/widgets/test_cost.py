"""--max-cost: the watcher cancels at the limit, free tasks never trigger, the meter shows it."""

from __future__ import annotations

import time

from IPython.utils.capture import capture_output

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.widgets.cost import CostGuard, CostMeter, watch_cost

from .conftest import FullFakeProvider, make_task


def _wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_guard_cancels_when_the_cost_reaches_the_limit():
    provider = FullFakeProvider([make_task(cost_per_hour=2.0, minutes=30)])
    guard = CostGuard(lambda: provider, "task-1", limit=0.5)
    assert guard.check() is False
    assert provider.cancelled == ["task-1"]
    assert guard.triggered and guard.last.cancelled_by_limit
    assert guard.last.text.endswith("(cancelled) - cancelled at the cost limit")


def test_guard_keeps_watching_below_the_limit():
    provider = FullFakeProvider([make_task(cost_per_hour=2.0, minutes=1)])
    guard = CostGuard(lambda: provider, "task-1", limit=1e9)
    assert guard.check() is True
    assert provider.cancelled == [] and not guard.triggered


def test_guard_stops_when_the_task_ended_by_itself():
    provider = FullFakeProvider([make_task(status=TaskStatus.COMPLETED)])
    guard = CostGuard(lambda: provider, "task-1", limit=0.01)
    assert guard.check() is False
    assert provider.cancelled == []


def test_unknown_price_never_triggers():
    provider = FullFakeProvider([make_task(cost_per_hour=None)])
    guard = CostGuard(lambda: provider, "task-1", limit=0.01)
    assert guard.check() is True
    assert provider.cancelled == []


def test_meter_turns_red_when_the_limit_cancelled_the_task():
    provider = FullFakeProvider([make_task(cost_per_hour=2.0, minutes=30)])
    meter = CostMeter(limit=0.5)
    CostGuard(lambda: provider, "task-1", 0.5, on_reading=meter.update).check()
    assert meter.bar.value == 0.5
    assert meter.bar.bar_style == "danger"
    assert "cancelled at the cost limit" in meter.caption.value


def test_free_task_is_told_in_one_line(session_for):
    provider = FullFakeProvider([make_task(cost_per_hour=0.0)])
    with capture_output() as captured:
        guard = watch_cost(session_for(provider), provider.tasks["task-1"], 5.0)
    assert guard is None
    assert (
        captured.stdout
        == "--max-cost: task task-1 costs nothing here, so the limit never triggers\n"
    )


def test_run_with_max_cost_cancels_the_task(use_provider, flow):
    provider = FullFakeProvider()
    provider.submit_task = lambda instance_type, config, *a, **k: provider.tasks.setdefault(
        "task-1", make_task(cost_per_hour=2.0, minutes=30)
    )
    magics = use_provider(provider)
    out = flow("run --max-cost 0.25 -- python train.py")[1]
    assert "--max-cost: task task-1 is cancelled when its cost reaches $0.25" in out
    _wait(lambda: provider.cancelled == ["task-1"])
    magics.session.close()


def test_no_limit_starts_nothing(session_for):
    provider = FullFakeProvider([make_task()])
    assert watch_cost(session_for(provider), provider.tasks["task-1"], None) is None


def test_meter_line_shows_the_spot_price_paid_and_the_bid_limit_apart():
    task = make_task(cost_per_hour=2.0, minutes=1).model_copy(
        update={"metadata": {"price_basis": "spot", "limit_per_hour": 2.2}}
    )
    guard = CostGuard(lambda: FullFakeProvider([task]), "task-1", limit=1e9)
    guard.check()
    assert " at $2.00/h, bid limit $2.20/h (running)" in guard.last.text
