"""Prices: parsing and formatting, where the current price comes from, and limit advice.

Mithril writes bid and auction prices as dollar strings (``"$25.60"``) and answers
``/v2/pricing/current`` in integer cents; this module turns both into dollars per
instance-hour as ``float``.
"""

from __future__ import annotations

import math
import re
from typing import Protocol

from flow_notebook.core.errors import PriceValidationError
from flow_notebook.providers.mithril.api.dto import AuctionModel, CurrentPricesResponse
from flow_notebook.providers.mithril.errors.messages import price_below_market_error

_PRICE_RE = re.compile(r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?$")
DEFAULT_MARGIN = 0.10
"""Recommended limit = current price plus this fraction, so a small rise does not evict."""


def parse_price(text: str | float | int) -> float:
    """Parses ``"$12.34"``, ``"12.34"``, ``"$1,200"`` or a number into dollars.

    Args:
        text: The price.

    Returns:
        The price in dollars.

    Raises:
        PriceValidationError: The text is not a non-negative price.
    """
    if isinstance(text, bool):
        raise PriceValidationError(f"not a price: {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _PRICE_RE.match(str(text).strip())
        if not match:
            shown = str(text)[:40]
            raise PriceValidationError(
                f"not a price: {shown!r}", suggestion="write a price like 12.34 or $12.34"
            )
        value = float(match.group(1).replace(",", "") + (match.group(2) or ""))
    if not math.isfinite(value) or value < 0:
        raise PriceValidationError(f"not a price: {text!r}")
    return value


def format_price(value: float) -> str:
    """Formats dollars as the API writes them, e.g. ``12.3`` -> ``"$12.30"``."""
    return f"${value:.2f}"


class IPricingSource(Protocol):
    """Where the current spot price of an instance type comes from."""

    def current_price(self, instance_type_fid: str, region: str | None) -> float | None:
        """Returns dollars per instance-hour, or ``None`` when no price is known."""
        ...


class AvailabilityApi(Protocol):
    """The part of ``ApiClient`` that lists spot auctions."""

    def list_spot_availability(self) -> list[AuctionModel]:
        """Returns every spot auction (``GET /v2/spot/availability``)."""
        ...


class CurrentPricingApi(Protocol):
    """The part of ``ApiClient`` that reads current prices."""

    def get_current_prices(
        self, instance_type: str, *, region: str | None = None, instance_quantity: int | None = None
    ) -> CurrentPricesResponse:
        """Returns current prices in cents (``GET /v2/pricing/current``)."""
        ...


class AuctionPricingSource:
    """Current price from spot auctions: the auction's ``last_instance_price``.

    Without a region, the cheapest region with capacity answers.

    Args:
        api: Lists spot auctions.
    """

    def __init__(self, api: AvailabilityApi) -> None:
        self._api = api

    def current_price(self, instance_type_fid: str, region: str | None) -> float | None:
        """Returns the auction price in dollars, or ``None`` without a matching auction."""
        prices = [
            parse_price(auction.last_instance_price)
            for auction in self._api.list_spot_availability()
            if auction.instance_type == instance_type_fid
            and ((region is None and auction.capacity > 0) or auction.region == region)
        ]
        return min(prices) if prices else None


class CurrentPricingSource:
    """Current price from ``/v2/pricing/current``, converted from cents.

    Uses ``spot_price_cents``, falling back to ``minimum_price_cents``.

    Args:
        api: Reads current prices.
    """

    def __init__(self, api: CurrentPricingApi) -> None:
        self._api = api

    def current_price(self, instance_type_fid: str, region: str | None) -> float | None:
        """Returns the spot price in dollars, or ``None`` when the API has none."""
        prices = self._api.get_current_prices(instance_type_fid, region=region)
        cents = prices.spot_price_cents
        if cents is None:
            cents = prices.minimum_price_cents
        return None if cents is None else cents / 100.0


class PricingService:
    """Advises and checks limit prices against the current spot price.

    Args:
        source: Where current prices come from.
        margin: Fraction added to the current price for a recommended limit.
    """

    def __init__(self, source: IPricingSource, margin: float = DEFAULT_MARGIN) -> None:
        if margin < 0:
            raise ValueError("margin must not be negative")
        self._source = source
        self._margin = margin

    def current_price(self, instance_type_fid: str, region: str | None) -> float | None:
        """Returns the current spot price in dollars per instance-hour, if known."""
        return self._source.current_price(instance_type_fid, region)

    def recommended_limit_price(
        self,
        instance_type_fid: str,
        region: str | None,
        *,
        max_price: float | None = None,
        display_name: str = "",
    ) -> float:
        """Returns a limit price: the current price plus the margin, capped by ``max_price``.

        Args:
            instance_type_fid: Instance type id.
            region: Region of the bid.
            max_price: The user's highest acceptable price per instance-hour.
            display_name: Instance type name for messages, e.g. ``8xh100``.

        Returns:
            Dollars per instance-hour, rounded up to the cent.

        Raises:
            PriceValidationError: ``max_price`` is below the current price, or no price
                is known and no ``max_price`` was given.
        """
        current = self._source.current_price(instance_type_fid, region)
        if current is None:
            if max_price is not None:
                return max_price
            raise PriceValidationError(
                f"no current spot price is known for {display_name or instance_type_fid}"
                + (f" in {region}" if region else ""),
                field="max_price_per_hour",
                suggestion="set max_price_per_hour",
            )
        advised = math.ceil(round(current * (1 + self._margin) * 100, 6)) / 100
        limit = advised if max_price is None else min(advised, max_price)
        self.validate_limit_price(limit, current, instance_type=display_name, region=region)
        return limit

    @staticmethod
    def validate_limit_price(
        limit: float, current: float | None, *, instance_type: str = "", region: str | None = None
    ) -> None:
        """Checks a limit price against the current price.

        Args:
            limit: Limit price in dollars per instance-hour.
            current: Current spot price, or ``None`` when unknown (nothing to check).
            instance_type: Display name for the message.
            region: Region for the message.

        Raises:
            PriceValidationError: ``limit`` is not positive or is below ``current``.
        """
        if not limit > 0:
            raise PriceValidationError(
                f"limit price {format_price(limit)}/h must be above zero",
                field="max_price_per_hour",
            )
        if current is not None and limit < current:
            raise price_below_market_error(limit, current, instance_type, region)
