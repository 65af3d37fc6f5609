"""Prices and the instance type catalogue."""

from __future__ import annotations

import pytest

from flow_notebook.sandbox.catalog import (
    INSTANCE_TYPES,
    OFFERS,
    REGIONS,
    find_instance_type,
    format_price,
    parse_price,
)


@pytest.mark.parametrize(("text", "cents"), [("$25.60", 2560), ("$3", 300), ("$0.5", 50)])
def test_dollar_strings_parse_to_cents(text, cents):
    assert parse_price(text) == cents


@pytest.mark.parametrize("text", ["25.60", "$", "$1.234", "-$1.00", ""])
def test_malformed_prices_are_none(text):
    assert parse_price(text) is None


def test_cents_format_as_dollar_strings():
    assert format_price(2560) == "$25.60"
    assert format_price(5) == "$0.05"


def test_instance_types_are_found_by_fid_or_name():
    itype = find_instance_type("a100-80gb.sxm.8x")
    assert itype is not None and itype.fid == "it_Sg1nDx1I8NFep60J"
    assert find_instance_type(itype.fid) is itype
    assert find_instance_type("nope") is None


def test_catalogue_is_mithrils_fifteen_types_in_its_eight_regions():
    assert len(INSTANCE_TYPES) == 15 and len({t.fid for t in INSTANCE_TYPES}) == 15
    assert len(REGIONS) == 8
    twins = [t.fid for t in INSTANCE_TYPES if t.name == "h100-80gb.sxm.8x"]
    assert twins == ["it_5ECSoHQjLBzrp5YM", "it_XqgKWbhZ5gznAYsG"]
    assert find_instance_type("h100-80gb.sxm.8x").fid == twins[0]


def test_every_type_is_offered_somewhere_but_not_everywhere():
    assert set(OFFERS) == {t.fid for t in INSTANCE_TYPES}
    for fid, regions in OFFERS.items():
        assert regions and set(regions) <= set(REGIONS), fid
        assert all(capacity > 0 and cents > 0 for capacity, cents in regions.values())
    assert any(len(regions) < len(REGIONS) for regions in OFFERS.values())
    assert set().union(*OFFERS.values()) == set(REGIONS)  # every region sells something


def test_bid_for_a_type_where_it_is_not_offered_is_422_on_region(mithril_sandbox):
    from flow_notebook.sandbox.testing import bid_body

    body = bid_body(mithril_sandbox.project, region="me-central1-a")  # no A100 there
    response = mithril_sandbox.api("POST", "/v2/spot/bids", json=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "region"] and "not offered" in problem["msg"]
