from __future__ import annotations

import pytest

from flow_notebook.core.errors import ConfigurationError, InsufficientCapacityError
from flow_notebook.providers.mithril.api.dto import AuctionModel
from flow_notebook.providers.mithril.domain.caches import TtlCache
from flow_notebook.providers.mithril.domain.region import (
    CheapestWithCapacityPolicy,
    DefaultRegion,
    RegionOffer,
    RegionRequest,
    RegionSelector,
)

NAMES = {"it_h100x8": "8xh100", "it_h100x8b": "8xh100", "it_a100x1": "1xa100"}


def _offer(region, capacity, price, it="it_h100x8"):
    return RegionOffer(it, NAMES[it], region, capacity, price)


def _request(**kwargs):
    kwargs.setdefault("instance_type_fid", "it_h100x8")
    kwargs.setdefault("instance_type", "8xh100")
    return RegionRequest(**kwargs)


def test_region_policy_prefers_the_cheapest_region_with_room_then_capacity():
    offers = [_offer("a", 2, 1.0), _offer("b", 8, 3.0), _offer("c", 8, 2.0)]
    assert CheapestWithCapacityPolicy().select(offers, _request()).region == "a"
    tied = [_offer("a", 2, 2.0), _offer("b", 7, 2.0), _offer("c", 8, 3.0)]
    assert CheapestWithCapacityPolicy().select(tied, _request()).region == "b"


def test_region_policy_skips_the_cheapest_region_when_it_is_full():
    offers = [_offer("a", 1, 1.0), _offer("b", 7, 1.34), _offer("c", 8, 2.0)]
    assert CheapestWithCapacityPolicy().select(offers, _request(quantity=2)).region == "b"


def test_region_policy_skips_regions_without_enough_capacity_or_over_max_price():
    offers = [_offer("a", 1, 1.0), _offer("b", 9, 5.0), _offer("c", 3, 2.0)]
    chosen = CheapestWithCapacityPolicy().select(offers, _request(quantity=2, max_price=4.0))
    assert chosen.region == "c"


def test_region_policy_ignores_other_instance_types():
    offers = [_offer("a", 50, 0.5, it="it_a100x1"), _offer("b", 1, 3.0)]
    assert CheapestWithCapacityPolicy().select(offers, _request()).region == "b"


def test_explicit_region_wins_when_it_has_capacity():
    offers = [_offer("a", 100, 1.0), _offer("b", 1, 3.0)]
    assert CheapestWithCapacityPolicy().select(offers, _request(region="b")).region == "b"


def test_explicit_region_without_capacity_names_where_capacity_exists():
    offers = [_offer("a", 4, 2.4), _offer("b", 0, 1.0), _offer("x", 2, 0.9, it="it_a100x1")]
    with pytest.raises(InsufficientCapacityError) as info:
        CheapestWithCapacityPolicy().select(offers, _request(region="b"))
    assert info.value.message == (
        "b has no capacity at that price for 1 x 8xh100 in b; capacity exists for:"
        " 8xh100 in a (4 free at $2.40/h); 1xa100 in x (2 free at $0.90/h)"
    )


def test_no_fitting_region_raises_one_line_error_listing_types_regions_prices():
    offers = [_offer("a", 1, 2.4), _offer("x", 2, 0.9, it="it_a100x1")]
    with pytest.raises(InsufficientCapacityError) as info:
        CheapestWithCapacityPolicy().select(offers, _request(quantity=4, max_price=2.0))
    text = str(info.value)
    assert "\n" not in text
    assert "no region has capacity for 4 x 8xh100 at <= $2.00/h" in text
    assert "8xh100 in a (1 free at $2.40/h)" in text
    assert "1xa100 in x (2 free at $0.90/h)" in text


class FakeAvailabilityApi:
    def __init__(self, auctions):
        self.auctions = auctions
        self.calls = 0

    def list_spot_availability(self):
        self.calls += 1
        return list(self.auctions)


def _auction(region, capacity, price, it="it_h100x8"):
    return AuctionModel(
        fid=f"auc_{region}_{it}",
        instance_type=it,
        region=region,
        capacity=capacity,
        last_instance_price=price,
        adjustable_memory=False,
    )


def _selector(api):
    return RegionSelector(
        api, CheapestWithCapacityPolicy(), TtlCache(ttl_seconds=60), display_name=NAMES.get
    )


def test_selector_gathers_availability_and_selects_with_display_names():
    api = FakeAvailabilityApi(
        [_auction("us-central1-a", 4, "$2.40"), _auction("eu-west1-a", 4, "$1.90")]
    )
    chosen = _selector(api).select("it_h100x8", quantity=2)
    assert chosen.region == "eu-west1-a"
    assert chosen.instance_type == "8xh100"
    assert chosen.price == 1.90
    assert chosen.auction_fid == "auc_eu-west1-a_it_h100x8"


def test_selector_reads_availability_once_until_invalidated():
    api = FakeAvailabilityApi([_auction("r", 4, "$2.40")])
    selector = _selector(api)
    selector.select("it_h100x8")
    selector.offers("it_h100x8")
    assert api.calls == 1
    selector.invalidate()
    selector.select("it_h100x8")
    assert api.calls == 2


def test_selector_raises_capacity_error_when_nothing_fits():
    api = FakeAvailabilityApi([_auction("r", 1, "$2.40"), _auction("s", 3, "$1.00", "it_a100x1")])
    with pytest.raises(InsufficientCapacityError, match="1xa100 in s"):
        _selector(api).select("it_h100x8", quantity=2)


def test_selector_takes_the_twin_of_a_full_type_with_the_same_name():
    api = FakeAvailabilityApi(
        [_auction("us-a", 0, "$19.20"), _auction("eu-b", 2, "$22.40", "it_h100x8b")]
    )
    twins = {"it_h100x8": ["it_h100x8", "it_h100x8b"]}
    selector = RegionSelector(
        api,
        CheapestWithCapacityPolicy(),
        TtlCache(ttl_seconds=60),
        display_name=NAMES.get,
        twins=lambda fid: twins.get(fid, [fid]),
    )
    chosen = selector.select("it_h100x8")
    assert (chosen.instance_type_fid, chosen.region) == ("it_h100x8b", "eu-b")
    with pytest.raises(InsufficientCapacityError):
        _selector(api).select("it_h100x8")  # without twins only the full type counts


def test_capacity_hints_put_other_counts_of_the_same_gpu_before_cheaper_other_gpus():
    offers = [
        RegionOffer("it_a100x1", "1xa100", "a", 0, 1.2),
        RegionOffer("it_v6e", "1xtpu-v6e", "t", 8, 1.3),
        RegionOffer("it_a100x2", "2xa100", "b", 4, 2.4),
    ]
    request = _request(instance_type_fid="it_a100x1", instance_type="1xa100")
    with pytest.raises(InsufficientCapacityError) as info:
        CheapestWithCapacityPolicy().select(offers, request)
    text = info.value.message
    assert text.index("2xa100 in b") < text.index("1xtpu-v6e in t")


def test_default_region_is_the_configured_one_else_the_roomiest():
    offers = [_offer("a", 2, 1.0), _offer("b", 9, 3.0), _offer("c", 9, 2.0)]
    assert DefaultRegion(lambda: offers, "z")() == "z"
    assert DefaultRegion(lambda: offers)() == "c"  # most room, then the cheaper


def test_default_region_without_any_offer_asks_for_one_instead_of_guessing():
    with pytest.raises(ConfigurationError, match="region=<region>"):
        DefaultRegion(lambda: [])()
