"""Summaries of repeated measurements and the result rows the report is built from."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Summary:
    """Order statistics of one series of measurements (same unit as the input).

    Attributes:
        count: Number of measurements.
        p50: Median.
        p99: 99th percentile (nearest rank).
        low: Smallest value.
        high: Largest value.
        iqr: Interquartile range.
    """

    count: int
    p50: float
    p99: float
    low: float
    high: float
    iqr: float

    def show(self, scale: float = 1.0, unit: str = "ms", digits: int = 1) -> str:
        """Returns ``p50 X (p99 Y, min..max, IQR Z, n=N)`` with values times ``scale``."""

        def fmt(value: float) -> str:
            return f"{value * scale:.{digits}f}"

        return (
            f"p50 {fmt(self.p50)} {unit} (p99 {fmt(self.p99)}, min {fmt(self.low)}, "
            f"max {fmt(self.high)}, IQR {fmt(self.iqr)}, n={self.count})"
        )


def summarize(values: Sequence[float]) -> Summary:
    """Returns the summary of ``values`` (at least one)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no measurements")
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return Summary(
        count=len(ordered),
        p50=statistics.median(ordered),
        p99=percentile(ordered, 99),
        low=ordered[0],
        high=ordered[-1],
        iqr=quartiles[2] - quartiles[0],
    )


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Returns the nearest-rank percentile of already sorted values."""
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def repeat(action: Callable[[], object], times: int) -> list[float]:
    """Runs ``action`` ``times`` times; returns the wall seconds of each run."""
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Yields a list that holds the elapsed wall seconds once the block ends."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


@dataclass
class Result:
    """One row of the report's table.

    Attributes:
        what: What was measured.
        target: The target, as text.
        measured: The measured figure, as text.
        met: Whether the target was met (``None``: not applicable or not measured).
        details: Markdown lines for the details section.
        note: Why a target is missed, or what the figure means.
    """

    what: str
    target: str
    measured: str
    met: bool | None
    details: list[str] = field(default_factory=list)
    note: str = ""
