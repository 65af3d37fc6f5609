"""The reservations panel: each window as a timeline bar, its usage, extend and run buttons.

One row per reservation: a bar spanning the window with the part already passed filled
(so a pending one is empty and an ended one full), the state, instances, instance-hours
used of those held so far, cost so far and total. **Extend** quotes the extension (its
availability, cost and new total) and asks before buying it; **Run** submits the
command typed beside it on the reservation's instances (``%flow run --reservation``).
"""

from __future__ import annotations

import contextlib
import html
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flow_notebook.core.errors import FlowError, ValidationError
from flow_notebook.core.models import Task, utcnow
from flow_notebook.core.provider_interfaces import IReservations
from flow_notebook.core.reservations import Reservation
from flow_notebook.notebook.arguments import build_task_config, command_value
from flow_notebook.notebook.reserving import reservation_table, when
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.html import money

EXTEND_BY = timedelta(days=1)
_BAR = (
    "<div class='flow-res-bar' title='{title}' style='position:relative;width:260px;"
    "height:10px;border:1px solid #8c959f;border-radius:3px;background:#f6f8fa'>"
    "<div class='flow-res-passed' style='width:{percent:.1f}%;height:100%;"
    "background:{color}'></div></div>"
)
_COLORS = {"active": "#2da44e", "paused": "#bf8700", "pending": "#8c959f"}


def passed_fraction(reservation: Reservation, now: datetime) -> float:
    """Returns how much of the window has passed, from 0 (not started) to 1 (over)."""
    length = (reservation.end - reservation.start).total_seconds()
    if length <= 0:
        return 1.0
    return min(max((now - reservation.start).total_seconds() / length, 0.0), 1.0)


def timeline_html(reservation: Reservation, now: datetime) -> str:
    """Returns the window's bar: the passed part filled, the window in its title."""
    fraction = passed_fraction(reservation, now)
    title = f"{when(reservation.start)} -> {when(reservation.end)} UTC, {fraction:.0%} passed"
    color = _COLORS.get(reservation.status, "#57606a")
    return _BAR.format(title=html.escape(title), percent=fraction * 100, color=color)


def facts_html(reservation: Reservation) -> str:
    """Returns the row's text: id, state, window, instances, usage and money."""
    used = (
        f"{reservation.used_hours:.2f} of {reservation.reserved_hours:.2f} instance-h used"
        if reservation.used_hours is not None and reservation.reserved_hours is not None
        else "no usage yet"
    )
    parts = [
        f"<b>{html.escape(reservation.reservation_id)}</b> {html.escape(reservation.status)}",
        f"{when(reservation.start)} → {when(reservation.end)} UTC",
        f"{reservation.num_instances} x {html.escape(reservation.instance_type)}",
        used,
        f"{money(reservation.cost_so_far)} so far of {money(reservation.total_price)}",
    ]
    return f"<div class='flow-res-facts'>{' · '.join(parts)}</div>"


class ReservationsPanel:
    """Lists reservations with a bar each; extends them and runs commands on them.

    Args:
        session: Submits the runs.
        provider: The provider's reservations.
        provider_name: Its name for submitting (``--provider``); ``None``: the default.
        show_all: Include ended and canceled reservations.
        clock: Current time (UTC).
    """

    def __init__(
        self,
        session: FlowSession,
        provider: IReservations,
        *,
        provider_name: str | None = None,
        show_all: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        import ipywidgets as w

        self._session = session
        self._provider = provider
        self._provider_name = provider_name
        self._show_all = show_all
        self._clock = clock
        self.reservations: list[Reservation] = []
        self.rows = w.VBox()
        self.result = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.root = w.VBox([self.refresh_button, self.rows, self.result])
        self.root.add_class("flow-reservations")
        self.confirms: dict[str, Any] = {}

    def refresh(self) -> ReservationsPanel:
        """Lists the reservations again; a provider error is shown, not raised."""
        import ipywidgets as w

        try:
            found = self._provider.list_reservations(limit=50)
        except FlowError as exc:
            self.result.value = _error(str(exc))
            return self
        self.reservations = found if self._show_all else [r for r in found if r.is_live]
        now = self._clock()
        self.rows.children = [self._row(r, now) for r in self.reservations] or [
            w.HTML("<i>no live reservations</i>")
        ]
        return self

    def extend(self, reservation_id: str, by: timedelta = EXTEND_BY) -> Any:
        """Shows the extension's quote and a question; returns the question (or ``None``)."""
        from flow_notebook.notebook.widgets.confirm import Confirm

        reservation = self._find(reservation_id)
        try:
            quote = self._provider.quote_extension(reservation_id, reservation.end + by)
        except FlowError as exc:
            self.result.value = _error(str(exc))
            return None
        if not quote.available:
            self.result.value = _error(
                f"cannot extend {reservation_id}: the latest end on offer is"
                f" {when(quote.latest_end)} UTC"
            )
            return None

        def act() -> str:
            done = self._provider.extend_reservation(reservation_id, quote.new_end)
            self.refresh()
            return f"extended {reservation_id}: ends {when(done.end)} UTC"

        confirm = Confirm(
            f"Extend {reservation_id} to {when(quote.new_end)} UTC for"
            f" {money(quote.added_cost)} (new total {money(quote.new_total)})?",
            act,
            action_label="Extend",
        )
        self.confirms[reservation_id] = confirm
        self.result.value = ""
        self.rows.children = (*self.rows.children, confirm.root)
        return confirm

    def run(self, reservation_id: str, command: str) -> Task | None:
        """Runs ``command`` on the reservation's instances; shows the receipt or the error."""
        from flow_notebook.notebook.commands.run import submit

        try:
            if not command.strip():
                raise ValidationError("type a command to run", field="command")
            config = build_task_config(
                {"command": command_value([command.strip()]), "reservation_id": reservation_id}
            )
            receipt = io.StringIO()
            with contextlib.redirect_stdout(receipt):
                task = submit(self._session, config, provider=self._provider_name)
        except FlowError as exc:
            self.result.value = _error(str(exc))
            return None
        self.result.value = (
            f"<span class='flow-submitted'>{html.escape(receipt.getvalue().strip())}</span>"
        )
        return task

    def text(self) -> str:
        """Returns the reservations as the ``%flow reservations`` table."""
        return reservation_table(self.reservations) if self.reservations else "no reservations"

    def _row(self, reservation: Reservation, now: datetime) -> Any:
        import ipywidgets as w

        rid = reservation.reservation_id
        bar = w.HTML(timeline_html(reservation, now) + facts_html(reservation))
        extend = w.Button(description="Extend 1 day", disabled=not reservation.is_live)
        command = w.Text(placeholder="python train.py", layout=w.Layout(width="220px"))
        run = w.Button(
            description="Run on it", button_style="primary", disabled=reservation.status != "active"
        )
        extend.on_click(lambda _: self.extend(rid))
        run.on_click(lambda _: self.run(rid, command.value))
        row = w.VBox([bar, w.HBox([extend, command, run])])
        row.add_class("flow-reservation-row")
        return row

    def _find(self, reservation_id: str) -> Reservation:
        for reservation in self.reservations:
            if reservation.reservation_id == reservation_id:
                return reservation
        return self._provider.get_reservation(reservation_id)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.text()
        return bundle


def _error(message: str) -> str:
    return f"<span style='color:#cf222e'>{html.escape(message)}</span>"
