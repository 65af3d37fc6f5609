"""The SVG price chart: well-formed XML, one line per region, escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from flow_notebook.core.models import PricePoint
from flow_notebook.notebook.widgets.price_chart import price_chart_svg

from .conftest import NOW

_NS = "{http://www.w3.org/2000/svg}"


def _points(region: str, prices: list[float]) -> list[PricePoint]:
    return [
        PricePoint(timestamp=NOW + timedelta(hours=i), price_per_hour=p, region=region)
        for i, p in enumerate(prices)
    ]


def test_chart_is_valid_svg_with_a_line_per_region():
    svg = price_chart_svg(_points("east", [1, 2, 3]) + _points("west", [2, 2, 1]), title="a100")
    root = ET.fromstring(svg)
    lines = root.findall(f"{_NS}polyline")
    assert [line.find(f"{_NS}title").text for line in lines] == ["east", "west"]
    assert len(lines[0].get("points").split()) == 3


def test_highest_price_is_drawn_at_the_top():
    svg = price_chart_svg(_points("east", [1.0, 3.0]), title="t", height=180)
    coords = ET.fromstring(svg).find(f"{_NS}polyline").get("points").split()
    ys = [float(pair.split(",")[1]) for pair in coords]
    assert ys[1] < ys[0]
    assert "$3.00" in svg and "$1.00" in svg


def test_text_is_escaped():
    svg = price_chart_svg(_points("<r&d>", [1, 2]), title='"x" <y>')
    root = ET.fromstring(svg)
    assert root.get("aria-label") == '"x" <y>'
    assert "<r&d>" not in svg


def test_no_points_says_so_and_a_flat_series_still_draws():
    assert "no price history" in price_chart_svg([], title="t")
    flat = ET.fromstring(price_chart_svg(_points("e", [2.0, 2.0]), title="t"))
    assert flat.find(f"{_NS}polyline") is not None
