"""A spot-price history chart as inline SVG, so it also shows in saved notebooks.

Hand-written markup: every text (title, region names, labels) is XML-escaped, and
coordinates are numbers formatted by this module.

Spot prices change in steps (a price holds until the next change), so each region is
drawn as a step line that holds its last price until now; a single price point is
therefore a visible line, with a dot on every change. The legend sits right of the
plot, never over a line. Text and axes take JupyterLab's theme colours
(``var(--jp-ui-font-color1)``, ``var(--jp-border-color1)``) with light-theme
fallbacks elsewhere, so labels stay readable in dark and light themes; the series
colours are mid-tones legible on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from flow_notebook.core.models import PricePoint, utcnow

_PALETTE = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b")
_MARGIN_LEFT, _MARGIN_TOP, _MARGIN_BOTTOM = 56, 24, 34
_LEGEND_WIDTH = 118
_TEXT_STYLE = "fill:var(--jp-ui-font-color1, #1f2328)"
_AXIS_STYLE = "stroke:var(--jp-border-color1, #8c959f)"
_ONE_HOUR = 3600.0


def price_chart_svg(
    points: Sequence[PricePoint],
    *,
    title: str,
    width: int = 520,
    height: int = 180,
    now: datetime | None = None,
) -> str:
    """Returns an SVG step chart of ``points``: one line per region, price over time.

    Args:
        points: Price samples, any order.
        title: Shown above the chart (escaped).
        width: Width in pixels, legend included.
        height: Height in pixels.
        now: Where the last prices are held to (default: the current time).

    Returns:
        An ``<svg>`` element; with no points, one that says so.
    """
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-price-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" style="font-family:sans-serif;font-size:11px">'
        f'<text x="{_MARGIN_LEFT}" y="14" font-weight="bold" style="{_TEXT_STYLE}">'
        f"{escape(title)}</text>"
    )
    if not points:
        return (
            f'{head}<text x="{_MARGIN_LEFT}" y="{height // 2}" style="{_TEXT_STYLE}">'
            "no price history</text></svg>"
        )
    ordered = sorted(points, key=lambda point: point.timestamp)
    scale = _Scale(ordered, width, height, now or utcnow())
    parts = [head, _axes(scale, ordered)]
    for index, (region, series) in enumerate(_by_region(ordered).items()):
        colour = _PALETTE[index % len(_PALETTE)]
        parts.append(_series(scale, series, region, colour))
        parts.append(_legend_entry(scale, index, region, colour))
    parts.append("</svg>")
    return "".join(parts)


class _Scale:
    """Maps times and prices to pixels inside the plot area."""

    def __init__(
        self, ordered: Sequence[PricePoint], width: int, height: int, now: datetime
    ) -> None:
        times = [point.timestamp.timestamp() for point in ordered]
        prices = [point.price_per_hour for point in ordered]
        self.t0 = times[0]
        # The last price holds until now; one lone point still spans some time.
        self.t1 = max(times[-1], now.timestamp())
        if self.t1 <= self.t0:
            self.t1 = self.t0 + _ONE_HOUR
        self.low, self.high = min(prices), max(prices)
        if self.high == self.low:
            self.low, self.high = self.low * 0.9, self.high * 1.1 or 1.0
        self.left, self.top = _MARGIN_LEFT, _MARGIN_TOP
        self.plot_w = width - _MARGIN_LEFT - _LEGEND_WIDTH
        self.plot_h = height - _MARGIN_TOP - _MARGIN_BOTTOM
        self.right = self.left + self.plot_w
        self.bottom = self.top + self.plot_h
        self.end = datetime.fromtimestamp(self.t1, ordered[0].timestamp.tzinfo)

    def x(self, point: PricePoint) -> float:
        """Returns the horizontal pixel of a point's time."""
        return self.left + self.plot_w * (point.timestamp.timestamp() - self.t0) / (
            self.t1 - self.t0
        )

    def y(self, price: float) -> float:
        """Returns the vertical pixel of a price (higher prices higher up)."""
        return self.top + self.plot_h * (1 - (price - self.low) / (self.high - self.low))


def _series(scale: _Scale, series: Sequence[PricePoint], region: str, colour: str) -> str:
    first = series[0]
    path = [f"M{scale.x(first):.1f},{scale.y(first.price_per_hour):.1f}"]
    for point in series[1:]:
        path.append(f"H{scale.x(point):.1f}V{scale.y(point.price_per_hour):.1f}")
    path.append(f"H{scale.right:.1f}")
    dots = "".join(
        f'<circle cx="{scale.x(p):.1f}" cy="{scale.y(p.price_per_hour):.1f}" r="2.5" '
        f'fill="{colour}"/>'
        for p in series
    )
    return (
        f'<path class="flow-price-line" fill="none" stroke="{colour}" stroke-width="2" '
        f'd="{"".join(path)}"><title>{escape(region)}</title></path>{dots}'
    )


def _legend_entry(scale: _Scale, index: int, region: str, colour: str) -> str:
    x, y = scale.right + 10, scale.top + 6 + 14 * index
    return (
        f'<g class="flow-price-legend"><line x1="{x}" y1="{y}" x2="{x + 14}" y2="{y}" '
        f'stroke="{colour}" stroke-width="2"/><text x="{x + 18}" y="{y + 4}" '
        f'style="{_TEXT_STYLE}">{escape(region)}</text></g>'
    )


def _by_region(points: Sequence[PricePoint]) -> dict[str, list[PricePoint]]:
    series: dict[str, list[PricePoint]] = {}
    for point in points:
        series.setdefault(point.region or "all regions", []).append(point)
    return series


def _axes(scale: _Scale, ordered: Sequence[PricePoint]) -> str:
    left, top, right, bottom = scale.left, scale.top, scale.right, scale.bottom
    first = ordered[0].timestamp.strftime("%m-%d %H:%M")
    last = scale.end.strftime("%m-%d %H:%M")
    text = f'style="{_TEXT_STYLE}"'
    return (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" style="{_AXIS_STYLE}"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" style="{_AXIS_STYLE}"/>'
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" {text}>${scale.high:,.2f}</text>'
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end" {text}>${scale.low:,.2f}</text>'
        f'<text x="{left}" y="{bottom + 14}" {text}>{escape(first)}</text>'
        f'<text x="{right}" y="{bottom + 14}" text-anchor="end" {text}>{escape(last)}</text>'
        f'<text x="{left + scale.plot_w / 2:.0f}" y="{bottom + 28}" text-anchor="middle" '
        f"{text}>spot $ per instance-hour (UTC), held until it changes</text>"
    )
