"""``--max-cost``: a watcher that cancels a task when its accrued cost reaches a limit.

The watcher polls the task on a daemon thread; it never prints (a thread's output
lands in whatever cell runs then) but updates a ``CostMeter`` widget when one is
shown. Providers with no price (the local provider costs nothing) never trigger it,
which the user is told once, when the task is submitted.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.core.provider_interfaces import IProvider
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.html import bid_limit, money, paid_price
from flow_notebook.notebook.widgets.poller import Poller


@dataclass(frozen=True)
class CostReading:
    """What the watcher saw on one poll.

    Attributes:
        task_id: The task.
        status: Its status.
        cost: Dollars accrued so far, or ``None`` when unknown.
        cost_per_hour: Its price, or ``None`` when unknown.
        limit: The ``--max-cost`` limit.
        cancelled_by_limit: Whether this watcher cancelled it.
        price: The price paid as shown (``html.paid_price``: spot, or ``≤`` the limit).
        bid_limit: The bid's limit price as shown, ``-`` without a bid.
    """

    task_id: str
    status: TaskStatus
    cost: float | None
    cost_per_hour: float | None
    limit: float
    cancelled_by_limit: bool = False
    price: str = "-"
    bid_limit: str = "-"

    @property
    def text(self) -> str:
        """One line, e.g. ``task-1: $0.42 of $5.00 at $1.20/h, bid limit $1.32/h (running)``."""
        limit = f", bid limit {self.bid_limit}" if self.bid_limit != "-" else ""
        line = (
            f"{self.task_id}: {money(self.cost)} of {money(self.limit)} at "
            f"{self.price}{limit} ({self.status.value})"
        )
        return line + (" - cancelled at the cost limit" if self.cancelled_by_limit else "")


class CostGuard:
    """Cancels the task once ``task.cost_so_far() >= limit``; stops when the task ends.

    Args:
        provider: Returns the current provider.
        task_id: The task to watch.
        limit: Dollars.
        interval: Seconds between polls.
        on_reading: Receives every reading (from the watcher thread).
    """

    def __init__(
        self,
        provider: Callable[[], IProvider],
        task_id: str,
        limit: float,
        *,
        interval: float = 5.0,
        on_reading: Callable[[CostReading], None] | None = None,
    ) -> None:
        self._provider = provider
        self.task_id = task_id
        self.limit = limit
        self._on_reading = on_reading or (lambda reading: None)
        self.last: CostReading | None = None
        self.triggered = False
        self._poller = Poller(self.check, interval, name="flow-cost-guard")

    @property
    def running(self) -> bool:
        """Whether the watcher thread is alive."""
        return self._poller.running

    def start(self) -> CostGuard:
        """Starts watching in the background; returns ``self``."""
        self._poller.start()
        return self

    def stop(self) -> None:
        """Stops watching; the task is left as it is. Safe to call twice."""
        self._poller.stop()

    def check(self) -> bool:
        """Polls once; cancels the task at the limit.

        Returns:
            Whether to keep watching (``False`` once the task ended or was cancelled).
        """
        try:
            task = self._provider().get_task(self.task_id)
        except FlowError:
            return True  # A failed poll is retried on the next tick.
        cost = task.cost_so_far()
        if not task.is_terminal and cost is not None and cost >= self.limit:
            try:
                self._provider().cancel_task(self.task_id)
            except FlowError:
                return True
            self.triggered = True
            task = task.model_copy(update={"status": TaskStatus.CANCELLED})
        self.last = CostReading(
            task.task_id,
            task.status,
            cost,
            task.cost_per_hour,
            self.limit,
            self.triggered,
            price=paid_price(task),
            bid_limit=bid_limit(task),
        )
        self._on_reading(self.last)
        return not task.is_terminal


class CostMeter:
    """A bar of cost so far against the limit, and one line of text."""

    def __init__(self, limit: float) -> None:
        import ipywidgets as w

        self.bar = w.FloatProgress(value=0.0, min=0.0, max=limit, bar_style="info")
        self.caption = w.HTML()
        self.root = w.HBox([self.bar, self.caption])
        self.root.add_class("flow-cost-meter")

    def update(self, reading: CostReading) -> None:
        """Shows ``reading``; red once the limit cancelled the task."""
        self.bar.value = min(reading.cost or 0.0, self.bar.max)
        self.caption.value = html.escape(reading.text)
        if reading.cancelled_by_limit:
            self.bar.bar_style = "danger"
        elif reading.status.is_terminal:
            self.bar.bar_style = "success"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.caption.value or "cost meter"
        return bundle


def watch_cost(
    session: FlowSession, task: Task, limit: float | None, *, interval: float = 5.0
) -> CostGuard | None:
    """Starts a ``CostGuard`` for ``--max-cost`` and says so in one line.

    Args:
        session: Supplies the provider; closing it stops the watcher.
        task: The submitted task.
        limit: The ``--max-cost`` value; ``None`` does nothing.
        interval: Seconds between polls.

    Returns:
        The running guard, or ``None`` when there is nothing to watch.
    """
    if limit is None:
        return None
    if task.cost_per_hour == 0:
        emit(f"--max-cost: task {task.task_id} costs nothing here, so the limit never triggers")
        return None
    from flow_notebook.notebook.widgets.html import display, use_widgets

    meter = CostMeter(limit) if use_widgets() else None
    guard = CostGuard(
        lambda: session.provider_of(task.task_id),
        task.task_id,
        limit,
        interval=interval,
        on_reading=meter.update if meter else None,
    )
    emit(f"--max-cost: task {task.task_id} is cancelled when its cost reaches {money(limit)}")
    if meter is not None:
        display(meter)
    session.on_close(guard.stop)
    return guard.start()
