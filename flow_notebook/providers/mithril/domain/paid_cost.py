"""What a task has actually been charged: its instances' price periods, summed.

``GET /v2/instances/pricing/history`` lists, per instance of a bid, the periods it
was billed and the spot price (cents per instance-hour) of each. The sum of
``price x duration`` over every period of every instance is what the bid cost so
far; an open period counts up to now. This is the figure the cost meter, the
status line and ``--max-cost`` use, not the bid's limit price (a spot bid pays the
market price, which is at most its limit).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from flow_notebook.core.models import utcnow
from flow_notebook.providers.mithril.api import dto

MAX_PAGES = 10
"""Pages of 100 instances read per bid (a bid has at most 64 instances)."""


class PricingHistoryApi(Protocol):
    """The call ``PaidCosts`` needs (``ApiClient`` fits)."""

    def get_instance_pricing_history(
        self, project: str, *, bid_fid: str, limit: int = 100, next_cursor: str | None = None
    ) -> dto.InstancePricingHistoryResponse:
        """Returns a page of the bid's instances' price periods."""
        ...


class PaidCosts:
    """Sums what a bid's instances were charged.

    Args:
        api: Reads instance pricing history.
        project: Returns the project fid.
        clock: Current time (end of open periods).
    """

    def __init__(
        self,
        api: PricingHistoryApi,
        project: Callable[[], str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._api = api
        self._project = project
        self._clock = clock

    def paid(self, bid_fid: str) -> float | None:
        """Returns the dollars the bid's instances were charged so far, ``None`` if none billed.

        Raises:
            FlowError: The API failed.
        """
        now = self._clock()
        total, seen, cursor = 0.0, False, None
        for _ in range(MAX_PAGES):
            page = self._api.get_instance_pricing_history(
                self._project(), bid_fid=bid_fid, next_cursor=cursor
            )
            for instance in page.instances:
                for event in instance.events:
                    seen = True
                    total += event.price_cents / 100 * _hours(event, now)
            cursor = page.next_cursor
            if not cursor:
                break
        return round(total, 6) if seen else None


def _hours(event: dto.InstancePricingEvent, now: datetime) -> float:
    start = _aware(event.start_time)
    end = _aware(event.end_time) if event.end_time else now
    return max(0.0, (end - start).total_seconds() / 3600)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
