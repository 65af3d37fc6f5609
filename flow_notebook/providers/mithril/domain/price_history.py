"""Past spot prices of an instance type (``GET /v2/pricing/history``), as ``PricePoint``s.

The history endpoint writes prices as dollar strings (``"$12.34"``, per instance-hour),
unlike ``/v2/pricing/current``, which answers in integer cents; ``parse_price`` reads
them. Series of other instance types than the one asked for are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Protocol

from flow_notebook.core.errors import PriceValidationError
from flow_notebook.core.models import PricePoint
from flow_notebook.providers.mithril.api.dto import (
    HistoricalPriceSeriesModel,
    HistoricalPricesResponseModel,
)
from flow_notebook.providers.mithril.domain.pricing import parse_price

MAX_SAMPLES = 1000
"""The most samples per series the API accepts."""


class PriceHistoryApi(Protocol):
    """The part of ``ApiClient`` that reads price history."""

    def get_price_history(
        self,
        *,
        instance_types: str | Sequence[str] | None = None,
        region: str | None = None,
        num_samples: int | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> HistoricalPricesResponseModel:
        """Returns price series (``GET /v2/pricing/history``)."""
        ...


class PriceHistoryService:
    """Reads price series and turns them into points, oldest first.

    Args:
        api: Reads ``/v2/pricing/history``.
        resolve: Turns a user's instance type (``8xh100``, an id) into its id.
        display_name: Turns an instance type id into its display name.
    """

    def __init__(
        self,
        api: PriceHistoryApi,
        resolve: Callable[[str], str],
        display_name: Callable[[str], str],
    ) -> None:
        self._api = api
        self._resolve = resolve
        self._display_name = display_name

    def history(
        self,
        instance_type: str,
        region: str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        num_samples: int = 100,
    ) -> list[PricePoint]:
        """Returns the spot prices per instance-hour of ``instance_type``, oldest first.

        Args:
            instance_type: Display name, catalogue name or id.
            region: Only this region; ``None``: every region.
            start: Earliest time; ``None`` lets the API choose.
            end: Latest time; ``None`` means now.
            num_samples: At most this many points per region (capped at 1000).

        Raises:
            ValidationError: Unknown instance type.
            FlowError: The API failed.
        """
        fid = self._resolve(instance_type)
        answer = self._api.get_price_history(
            instance_types=fid,
            region=region,
            num_samples=max(0, min(num_samples, MAX_SAMPLES)),
            start_time=start,
            end_time=end,
        )
        points = [
            point
            for series in answer.series
            if series.instance_type == fid and region in (None, series.region)
            for point in self._points(series)
        ]
        return sorted(points, key=lambda point: (point.timestamp, point.region or ""))

    def _points(self, series: HistoricalPriceSeriesModel) -> list[PricePoint]:
        name = self._display_name(series.instance_type)
        points = []
        for stamp, price in zip(series.timestamps, series.spot_prices, strict=False):
            try:
                dollars = parse_price(price)
            except PriceValidationError:
                continue  # One unreadable sample should not hide the rest of the chart.
            points.append(
                PricePoint(
                    timestamp=_aware(stamp),
                    price_per_hour=dollars,
                    instance_type=name,
                    region=series.region,
                )
            )
        return points


def _aware(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
