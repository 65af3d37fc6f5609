"""Mithril provider: runs tasks as spot bids on Mithril GPU instances.

``MithrilProvider`` is imported on first access only, so that naming this package
(e.g. in the provider registry) does not pull in HTTP or SSH libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MithrilProvider"]


def __getattr__(name: str) -> Any:
    """Imports ``MithrilProvider`` from ``.provider`` when it is first asked for."""
    if name == "MithrilProvider":
        provider = importlib.import_module(f"{__name__}.provider")
        return provider.MithrilProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
