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


LATER = NOW + timedelta(hours=10)


def _path(svg: str) -> list[tuple[str, float, ...]]:
    """The first line's path as (command, numbers...) steps."""
    import re

    d = ET.fromstring(svg).find(f"{_NS}path").get("d")
    return [
        (cmd, *map(float, re.findall(r"[-\d.]+", args)))
        for cmd, args in re.findall(r"([MHV])([^MHV]*)", d)
    ]


def test_chart_is_valid_svg_with_a_line_per_region():
    svg = price_chart_svg(
        _points("east", [1, 2, 3]) + _points("west", [2, 2, 1]), title="a100", now=LATER
    )
    root = ET.fromstring(svg)
    lines = root.findall(f"{_NS}path")
    assert [line.find(f"{_NS}title").text for line in lines] == ["east", "west"]
    assert len(root.findall(f"{_NS}circle")) == 6  # a dot on every price change


def test_prices_are_steps_held_until_now():
    steps = _path(price_chart_svg(_points("east", [1.0, 3.0]), title="t", now=LATER))
    # Move to the first price, hold it (H) until the change, jump (V), hold to the end.
    assert [cmd for cmd, *_ in steps] == ["M", "H", "V", "H"]
    assert steps[2][1] < steps[0][2]  # the higher price is drawn higher up


def test_a_single_point_draws_a_line_across_the_plot():
    svg = price_chart_svg(_points("east", [2.5]), title="t", now=LATER)
    (_, x0, y0), (_, x1) = _path(svg)
    assert x1 - x0 > 300 and "$2.75" in svg and "$2.25" in svg
    alone = price_chart_svg(_points("east", [2.5]), title="t", now=NOW)  # no time passed
    (_, x0, _), (_, x1) = _path(alone)
    assert x1 > x0


def test_legend_is_right_of_the_plot_and_text_uses_the_theme_colours():
    svg = price_chart_svg(_points("east", [1.0, 3.0]), title="t", now=LATER)
    root = ET.fromstring(svg)
    plot_right = max(x for _, x, *_ in [s for s in _path(svg) if s[0] == "H"])
    legend = root.find(f"{_NS}g")
    assert float(legend.find(f"{_NS}line").get("x1")) > plot_right
    texts = root.findall(f".//{_NS}text")
    assert texts and all("var(--jp-ui-font-color1" in t.get("style") for t in texts)


def test_text_is_escaped():
    svg = price_chart_svg(_points("<r&d>", [1, 2]), title='"x" <y>')
    root = ET.fromstring(svg)
    assert root.get("aria-label") == '"x" <y>'
    assert "<r&d>" not in svg


def test_no_points_says_so_and_a_flat_series_still_draws():
    assert "no price history" in price_chart_svg([], title="t")
    flat = ET.fromstring(price_chart_svg(_points("e", [2.0, 2.0]), title="t"))
    assert flat.find(f"{_NS}path") is not None
