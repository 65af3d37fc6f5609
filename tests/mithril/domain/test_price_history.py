"""PriceHistoryService: dollar strings from /v2/pricing/history become PricePoints."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.providers.mithril.api.dto import HistoricalPricesResponseModel
from flow_notebook.providers.mithril.domain.price_history import PriceHistoryService

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T01:00:00Z"


class RecordingHistoryApi:
    """Answers /v2/pricing/history with fixed series and records the query."""

    def __init__(self, series: list[dict]) -> None:
        self.series = series
        self.queries: list[dict] = []

    def get_price_history(self, **query) -> HistoricalPricesResponseModel:
        self.queries.append(query)
        return HistoricalPricesResponseModel.model_validate({"series": self.series})


def _series(region: str, prices: list[str], itype: str = "it_h100x8") -> dict:
    stamps = [T1, T0][: len(prices)]
    return {"instance_type": itype, "region": region, "timestamps": stamps,
            "spot_prices": prices, "reserved_prices": prices}  # fmt: skip


def _resolve(spec: str) -> str:
    if spec not in ("8xh100", "it_h100x8"):
        raise ValidationError(f"unknown instance type {spec!r}")
    return "it_h100x8"


def _service(api: RecordingHistoryApi) -> PriceHistoryService:
    return PriceHistoryService(api, _resolve, lambda fid: {"it_h100x8": "8xh100"}.get(fid, fid))


def test_dollar_strings_become_dollars_per_hour_oldest_first():
    api = RecordingHistoryApi([_series("us-a", ["$12.50", "$1,210.00"])])
    points = _service(api).history("8xh100")
    assert [p.price_per_hour for p in points] == [1210.0, 12.5]  # T0 first
    assert points[0].timestamp == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert {(p.instance_type, p.region) for p in points} == {("8xh100", "us-a")}


def test_the_query_names_the_type_id_region_window_and_capped_samples():
    api = RecordingHistoryApi([])
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert _service(api).history("8xh100", "us-a", start=start, num_samples=5000) == []
    assert api.queries == [
        {"instance_types": "it_h100x8", "region": "us-a", "num_samples": 1000,
         "start_time": start, "end_time": None}
    ]  # fmt: skip


def test_other_types_and_regions_are_left_out_and_bad_samples_skipped():
    api = RecordingHistoryApi(
        [
            _series("us-a", ["$2.00", "not a price"]),
            _series("eu-b", ["$3.00"]),
            _series("us-a", ["$9.00"], itype="it_a100x1"),
        ]
    )
    points = _service(api).history("it_h100x8", "us-a")
    assert [(p.region, p.price_per_hour) for p in points] == [("us-a", 2.0)]


def test_unknown_instance_type_is_refused_before_any_request():
    api = RecordingHistoryApi([])
    with pytest.raises(ValidationError, match="unknown instance type"):
        _service(api).history("z900")
    assert api.queries == []
