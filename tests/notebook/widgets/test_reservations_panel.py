"""The reservations panel's timeline: the passed part of each window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flow_notebook.core.reservations import Reservation
from flow_notebook.notebook.widgets.reservations_panel import (
    facts_html,
    passed_fraction,
    timeline_html,
)

START = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _reservation(status: str = "active") -> Reservation:
    return Reservation(
        reservation_id="res_1",
        name="r",
        status=status,
        instance_type="8xh100",
        num_instances=2,
        start=START,
        end=START + timedelta(days=4),
        price_per_instance_hour=28.8,
        total_price=5529.6,
        cost_so_far=1382.4,
        reserved_hours=48.0,
        used_hours=12.5,
    )


def test_the_bar_fills_with_the_part_of_the_window_passed():
    reservation = _reservation()
    assert passed_fraction(reservation, START - timedelta(hours=1)) == 0.0
    assert passed_fraction(reservation, START + timedelta(days=1)) == 0.25
    assert passed_fraction(reservation, START + timedelta(days=9)) == 1.0
    assert "width:25.0%" in timeline_html(reservation, START + timedelta(days=1))
    assert "25% passed" in timeline_html(reservation, START + timedelta(days=1))


def test_the_row_text_has_usage_and_money_escaped():
    text = facts_html(_reservation().model_copy(update={"instance_type": "<b>x</b>"}))
    assert "12.50 of 48.00 instance-h used" in text
    assert "$1,382.40 so far of $5,529.60" in text
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text
