"""Prices and the instance type catalogue."""

from __future__ import annotations

import pytest

from flow_notebook.sandbox.catalog import find_instance_type, format_price, parse_price


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
    itype = find_instance_type("h100.80gb.sxm5.8x")
    assert itype is not None and find_instance_type(itype.fid) is itype
    assert find_instance_type("nope") is None
