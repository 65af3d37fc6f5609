"""Durations written as people write them: ``20s``, ``90m``, ``4h``, ``1h30m``, ``2d``."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Returns the seconds of a duration like ``90m`` or ``1h30m``.

    Raises:
        ValueError: Empty, without a unit, or not above zero; the message is one line.
    """
    compact = str(text).strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"expected a duration like 20s, 90m, 4h or 1h30m, got {text!r}")
    seconds = sum(float(number) * _SECONDS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {text!r}")
    return seconds


def duration_hours(text: str) -> float:
    """Returns ``parse_duration(text)`` in hours."""
    return parse_duration(text) / 3600
