"""A spot-price history chart as inline SVG, so it also shows in saved notebooks.

Hand-written markup: every text (title, region names, labels) is XML-escaped, and
coordinates are numbers formatted by this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from flow_notebook.core.models import PricePoint

_PALETTE = ("#0969da", "#1a7f37", "#bc4c00", "#8250df", "#cf222e", "#6e7781")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 56, 12, 24, 34


def price_chart_svg(
    points: Sequence[PricePoint], *, title: str, width: int = 480, height: int = 180
) -> str:
    """Returns an SVG line chart of ``points``: one line per region, price over time.

    Args:
        points: Price samples, any order.
        title: Shown above the chart (escaped).
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        An ``<svg>`` element; with no points, one that says so.
    """
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-price-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" style="font-family:sans-serif;font-size:11px">'
        f'<text x="{_MARGIN_LEFT}" y="14" font-weight="bold">{escape(title)}</text>'
    )
    if not points:
        return f'{head}<text x="{_MARGIN_LEFT}" y="{height // 2}">no price history</text></svg>'
    ordered = sorted(points, key=lambda point: point.timestamp)
    times = [point.timestamp.timestamp() for point in ordered]
    prices = [point.price_per_hour for point in ordered]
    t0, t1 = min(times), max(times)
    low, high = min(prices), max(prices)
    if high == low:
        low, high = low * 0.9, high * 1.1 or 1.0
    plot_w = width - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = height - _MARGIN_TOP - _MARGIN_BOTTOM

    def x(stamp: float) -> float:
        return _MARGIN_LEFT + (plot_w * (stamp - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(price: float) -> float:
        return _MARGIN_TOP + plot_h * (1 - (price - low) / (high - low))

    parts = [head, _axes(plot_w, plot_h, low, high, ordered)]
    for index, (region, series) in enumerate(_by_region(ordered).items()):
        colour = _PALETTE[index % len(_PALETTE)]
        coords = " ".join(
            f"{x(p.timestamp.timestamp()):.1f},{y(p.price_per_hour):.1f}" for p in series
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{escape(region)}</title></polyline>"
        )
        parts.append(
            f'<text x="{width - _MARGIN_RIGHT}" y="{_MARGIN_TOP + 12 * (index + 1)}" '
            f'text-anchor="end" fill="{colour}">{escape(region)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _by_region(points: Sequence[PricePoint]) -> dict[str, list[PricePoint]]:
    series: dict[str, list[PricePoint]] = {}
    for point in points:
        series.setdefault(point.region or "all regions", []).append(point)
    return series


def _axes(plot_w: int, plot_h: int, low: float, high: float, ordered: Sequence[PricePoint]) -> str:
    left, top = _MARGIN_LEFT, _MARGIN_TOP
    bottom = top + plot_h
    first = ordered[0].timestamp.strftime("%m-%d %H:%M")
    last = ordered[-1].timestamp.strftime("%m-%d %H:%M")
    return (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">${high:,.2f}</text>'
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">${low:,.2f}</text>'
        f'<text x="{left}" y="{bottom + 14}">{escape(first)}</text>'
        f'<text x="{left + plot_w}" y="{bottom + 14}" text-anchor="end">{escape(last)}</text>'
        f'<text x="{left + plot_w / 2:.0f}" y="{bottom + 28}" text-anchor="middle">'
        "spot price per instance-hour (UTC)</text>"
    )
