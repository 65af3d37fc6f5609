from __future__ import annotations

import pytest

from flow_notebook.core.errors import PriceValidationError
from flow_notebook.providers.mithril.api.dto import AuctionModel, CurrentPricesResponse
from flow_notebook.providers.mithril.domain.pricing import (
    AuctionPricingSource,
    CurrentPricingSource,
    PricingService,
    format_price,
    parse_price,
)


def _auction(*, fid="auc_1", it="it_h100x8", region="us-central1-a", capacity=4, price="$2.40"):
    return AuctionModel(
        fid=fid,
        instance_type=it,
        region=region,
        capacity=capacity,
        last_instance_price=price,
        adjustable_memory=False,
    )


class FakeAvailabilityApi:
    def __init__(self, auctions):
        self.auctions = auctions

    def list_spot_availability(self):
        return list(self.auctions)


class FakeCurrentPricingApi:
    def __init__(self, response: CurrentPricesResponse):
        self.response = response
        self.calls = []

    def get_current_prices(self, instance_type, *, region=None, instance_quantity=None):
        self.calls.append((instance_type, region))
        return self.response


class FixedSource:
    def __init__(self, price):
        self.price = price

    def current_price(self, instance_type_fid, region):
        return self.price


@pytest.mark.parametrize(
    ("text", "expected"),
    [("$12.34", 12.34), ("12.34", 12.34), (" $0.5 ", 0.5), ("$1,200.00", 1200.0), ("7", 7.0)],
)
def test_parse_price_reads_dollar_strings(text, expected):
    assert parse_price(text) == pytest.approx(expected)


def test_parse_price_accepts_numbers():
    assert parse_price(3) == 3.0
    assert parse_price(2.5) == 2.5


@pytest.mark.parametrize("junk", ["", "abc", "$", "12.3.4", "-1", "$-2.00", "1e3", "12,34", "nan"])
def test_parse_price_rejects_junk_with_one_line_error(junk):
    with pytest.raises(PriceValidationError) as info:
        parse_price(junk)
    assert "\n" not in str(info.value)
    assert "not a price" in str(info.value)


def test_parse_price_rejects_negative_and_infinite_numbers():
    for value in (-1.0, float("inf"), float("nan")):
        with pytest.raises(PriceValidationError):
            parse_price(value)


def test_format_price_writes_two_decimals_with_dollar_sign():
    assert format_price(12.3) == "$12.30"
    assert format_price(0) == "$0.00"
    assert parse_price(format_price(25.6)) == 25.6


def test_auction_source_returns_price_of_the_matching_region():
    api = FakeAvailabilityApi(
        [
            _auction(region="us-central1-a", price="$2.40"),
            _auction(region="eu-west1-a", price="$1.90"),
        ]
    )
    source = AuctionPricingSource(api)
    assert source.current_price("it_h100x8", "us-central1-a") == 2.40
    assert source.current_price("it_h100x8", "eu-west1-a") == 1.90
    assert source.current_price("it_h100x8", "ap-south1-a") is None
    assert source.current_price("it_other", "us-central1-a") is None


def test_auction_source_without_region_picks_cheapest_region_with_capacity():
    api = FakeAvailabilityApi(
        [
            _auction(region="a", price="$3.00"),
            _auction(region="b", price="$1.00", capacity=0),
            _auction(region="c", price="$2.00"),
        ]
    )
    assert AuctionPricingSource(api).current_price("it_h100x8", None) == 2.0


def test_current_pricing_source_converts_cents_to_dollars():
    api = FakeCurrentPricingApi(
        CurrentPricesResponse(spot_price_cents=240, minimum_price_cents=100)
    )
    source = CurrentPricingSource(api)
    assert source.current_price("it_h100x8", "us-central1-a") == 2.40
    assert api.calls == [("it_h100x8", "us-central1-a")]


def test_current_pricing_source_falls_back_to_minimum_then_none():
    assert (
        CurrentPricingSource(
            FakeCurrentPricingApi(CurrentPricesResponse(minimum_price_cents=150))
        ).current_price("it", None)
        == 1.5
    )
    assert (
        CurrentPricingSource(FakeCurrentPricingApi(CurrentPricesResponse())).current_price(
            "it", None
        )
        is None
    )


def test_recommended_limit_adds_margin_and_rounds_up_to_the_cent():
    service = PricingService(FixedSource(2.40), margin=0.10)
    assert service.recommended_limit_price("it", "r") == 2.64
    assert PricingService(FixedSource(1.001), margin=0.0).recommended_limit_price("it", "r") == 1.01


def test_recommended_limit_is_capped_by_max_price():
    service = PricingService(FixedSource(2.40))
    assert service.recommended_limit_price("it", "r", max_price=2.50) == 2.50
    assert service.recommended_limit_price("it", "r", max_price=10.0) == 2.64


def test_recommended_limit_rejects_max_price_below_current_naming_the_price():
    service = PricingService(FixedSource(2.40))
    with pytest.raises(PriceValidationError) as info:
        service.recommended_limit_price("it", "us-central1-a", max_price=1.0, display_name="1xh100")
    assert info.value.message == (
        "limit price $1.00/h is below the current spot price $2.40/h for 1xh100 in us-central1-a"
    )
    assert info.value.field == "max_price_per_hour"


def test_recommended_limit_without_known_price_uses_max_price_or_fails():
    service = PricingService(FixedSource(None))
    assert service.recommended_limit_price("it", "r", max_price=3.0) == 3.0
    with pytest.raises(
        PriceValidationError, match="no current spot price is known for 8xh100 in r"
    ):
        service.recommended_limit_price("it", "r", display_name="8xh100")


def test_validate_limit_price_accepts_equal_and_higher_limits():
    PricingService.validate_limit_price(2.40, 2.40)
    PricingService.validate_limit_price(5.0, 2.40)
    PricingService.validate_limit_price(1.0, None)


def test_validate_limit_price_rejects_zero_limit():
    with pytest.raises(PriceValidationError, match="must be above zero"):
        PricingService.validate_limit_price(0.0, None)
