from __future__ import annotations

from flow_notebook.core.errors import (
    InsufficientCapacityError,
    PriceValidationError,
    ProviderResponseError,
    ValidationError,
)
from flow_notebook.providers.mithril.errors import (
    capacity_error,
    enhance_price_error,
    price_below_market_error,
)
from flow_notebook.providers.mithril.errors.messages import MAX_LISTED_OFFERS, CapacityHint


def test_price_below_market_names_both_prices_type_and_region():
    error = price_below_market_error(1.0, 2.4, "1xh100", "us-central1-a")
    assert isinstance(error, PriceValidationError)
    assert error.message == (
        "limit price $1.00/h is below the current spot price $2.40/h for 1xh100 in us-central1-a"
    )
    assert "2.40" in error.suggestion


def test_enhance_price_error_adds_current_price_to_price_rejections():
    original = ValidationError("limit_price: bid price too low")
    enhanced = enhance_price_error(original, 3.5, "8xh100", "eu-west1-a")
    assert isinstance(enhanced, PriceValidationError)
    assert enhanced.message == (
        "limit_price: bid price too low; the current spot price is $3.50/h for 8xh100 in eu-west1-a"
    )


def test_enhance_price_error_leaves_other_errors_alone():
    unrelated = ProviderResponseError("volume not found")
    assert enhance_price_error(unrelated, 3.5) is unrelated
    about_price = ValidationError("price too low")
    assert enhance_price_error(about_price, None) is about_price


def test_capacity_error_lists_places_with_capacity_on_one_line():
    hints = [
        CapacityHint("8xh100", "us-central1-a", 4, 2.4),
        CapacityHint("1xa100", "eu-west1-a", 2, None),
    ]
    error = capacity_error("2 x 8xh100 in us-east1", hints)
    assert isinstance(error, InsufficientCapacityError)
    assert "\n" not in str(error)
    assert error.message == (
        "no region has capacity for 2 x 8xh100 in us-east1; capacity exists for:"
        " 8xh100 in us-central1-a (4 free at $2.40/h); 1xa100 in eu-west1-a (2 free)"
    )


def test_capacity_error_truncates_long_lists_and_handles_empty():
    hints = [CapacityHint("8xh100", f"r{i}", 1, 1.0) for i in range(MAX_LISTED_OFFERS + 3)]
    assert capacity_error("x", hints).message.endswith("; and 3 more")
    assert "no spot capacity is available anywhere" in capacity_error("x", []).message
