"""Mithril-specific error helpers; every error raised is a ``flow_notebook.core.errors`` class."""

from flow_notebook.providers.mithril.errors.messages import (
    capacity_error,
    enhance_price_error,
    price_below_market_error,
)

__all__ = ["capacity_error", "enhance_price_error", "price_below_market_error"]
