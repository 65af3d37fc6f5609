"""Reservation magics on a provider without reservations: one line each, nothing done."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.provider_interfaces import IReservations
from flow_notebook.notebook.reserving import parse_length, parse_when
from flow_notebook.providers.local.provider import LocalProvider


@pytest.mark.parametrize(
    "line",
    [
        "reserve --gpu 8xh100 --duration 3d --yes",
        "reservations",
        "reservation extend res_1 --duration 1d",
        "reservation history res_1",
        "run --reservation res_1 -- true",
    ],
)
def test_local_provider_has_no_reservations_in_one_line(use_provider, flow, tmp_path, line):
    local = LocalProvider(tmp_path / "state")
    assert not isinstance(local, IReservations)
    use_provider(local)
    with pytest.raises(UsageError, match="^provider local has no reservations") as caught:
        flow(line)
    assert "\n" not in str(caught.value)


def test_start_and_duration_words():
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_when("now", now) == now
    assert parse_when("+2h", now) == now + timedelta(hours=2)
    assert parse_when("in 30m", now) == now + timedelta(minutes=30)
    assert parse_when("2026-12-02T09:00", now) == datetime(2026, 12, 2, 9, tzinfo=timezone.utc)
    assert parse_when("2026-12-02T09:00+01:00", now).hour == 8
    assert parse_length("3d") == timedelta(days=3)
