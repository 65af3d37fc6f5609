"""Region selection: gather spot availability per (instance type, region) and pick one.

``CheapestWithCapacityPolicy`` picks, among the regions that can hold the request
(enough free capacity, price within the limit), the cheapest; more free capacity
breaks a tie. Capacity still decides when the cheapest region is full: a region
without room for the request is never chosen. An explicit region always wins when
it has capacity; otherwise the error says where capacity is. ``DefaultRegion``
places resources that name no region: the configured one, else the roomiest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from flow_notebook.core.errors import ConfigurationError, ValidationError
from flow_notebook.providers.mithril.api.dto import AuctionModel
from flow_notebook.providers.mithril.domain.caches import ILoadingCache
from flow_notebook.providers.mithril.domain.pricing import AvailabilityApi, parse_price
from flow_notebook.providers.mithril.errors.messages import CapacityHint, capacity_error

CACHE_KEY = "spot_availability"


@dataclass(frozen=True)
class RegionOffer:
    """Spot capacity of one instance type in one region.

    Attributes:
        instance_type_fid: Instance type id.
        instance_type: Display name, e.g. ``8xh100``.
        region: Region name.
        capacity: Instances available now.
        price: Current price per instance-hour in dollars.
        auction_fid: Id of the auction.
    """

    instance_type_fid: str
    instance_type: str
    region: str
    capacity: int
    price: float
    auction_fid: str = ""


@dataclass(frozen=True)
class RegionRequest:
    """What a task needs from a region.

    Attributes:
        instance_type_fid: Instance type id.
        instance_type: Display name for messages.
        quantity: Instances needed.
        region: Region the user asked for, if any.
        max_price: Highest acceptable price per instance-hour, if any.
        alternatives: Other ids of the same shape (types sharing a catalogue name).
    """

    instance_type_fid: str
    instance_type: str
    quantity: int = 1
    region: str | None = None
    max_price: float | None = None
    alternatives: tuple[str, ...] = ()

    def describe(self) -> str:
        """Returns e.g. ``2 x 8xh100 in us-east1 at <= $3.00/h``."""
        text = f"{self.quantity} x {self.instance_type}"
        if self.region:
            text += f" in {self.region}"
        if self.max_price is not None:
            text += f" at <= ${self.max_price:,.2f}/h"
        return text

    def fits(self, offer: RegionOffer) -> bool:
        """Whether ``offer`` has this type (or a twin), enough capacity and an acceptable price."""
        return (
            offer.instance_type_fid in (self.instance_type_fid, *self.alternatives)
            and offer.capacity >= self.quantity
            and (self.max_price is None or offer.price <= self.max_price)
        )


class IRegionSelectionPolicy(Protocol):
    """Chooses one offer for a request."""

    def select(self, offers: Sequence[RegionOffer], request: RegionRequest) -> RegionOffer:
        """Returns the chosen offer.

        Raises:
            InsufficientCapacityError: No offer fits the request.
        """
        ...


class CheapestWithCapacityPolicy:
    """Lowest price among regions with room, then most free capacity, then the name."""

    def select(self, offers: Sequence[RegionOffer], request: RegionRequest) -> RegionOffer:
        """Returns the best fitting offer; an explicit region wins whenever it fits.

        Raises:
            InsufficientCapacityError: Nothing fits; lists where capacity exists.
        """
        fitting = [offer for offer in offers if request.fits(offer)]
        if request.region:
            in_region = [offer for offer in fitting if offer.region == request.region]
            if in_region:
                return min(in_region, key=_rank)
            raise capacity_error(
                request.describe(),
                _hints(offers, request),
                reason=f"{request.region} has no capacity at that price",
            )
        if not fitting:
            raise capacity_error(request.describe(), _hints(offers, request))
        return min(fitting, key=_rank)


def _rank(offer: RegionOffer) -> tuple[float, int, str]:
    return (offer.price if math.isfinite(offer.price) else math.inf, -offer.capacity, offer.region)


def _hints(offers: Sequence[RegionOffer], request: RegionRequest) -> list[CapacityHint]:
    """Places with any capacity: the requested type, then the same GPU, then by price."""
    asked = (request.instance_type_fid, *request.alternatives)
    gpu = _gpu(request.instance_type)
    free = [offer for offer in offers if offer.capacity > 0]
    free.sort(
        key=lambda o: (
            o.instance_type_fid not in asked,
            _gpu(o.instance_type) != gpu,
            o.price,
            o.region,
        )
    )
    return [CapacityHint(o.instance_type, o.region, o.capacity, o.price) for o in free]


def _gpu(display_name: str) -> str:
    """Returns the GPU of a display name (``a100`` of ``8xa100``)."""
    return display_name.partition("x")[2] or display_name


class RegionSelector:
    """Gathers spot availability (through a cache) and applies a selection policy.

    Args:
        availability_api: Lists spot auctions.
        policy: Picks a region among the offers.
        cache: Holds availability as JSON for a short time.
        display_name: Maps an instance type id to its display name (the catalogue's).
        twins: Maps an instance type id to every id of the same shape, it first.
    """

    def __init__(
        self,
        availability_api: AvailabilityApi,
        policy: IRegionSelectionPolicy,
        cache: ILoadingCache,
        display_name: Callable[[str], str] = str,
        twins: Callable[[str], Sequence[str]] = lambda fid: [fid],
    ) -> None:
        self._api = availability_api
        self._policy = policy
        self._cache = cache
        self._display_name = display_name
        self._twins = twins

    def auctions(self) -> list[AuctionModel]:
        """Returns every spot auction, from the cache when fresh."""
        raw = self._cache.get_or_load(
            CACHE_KEY,
            lambda: [a.model_dump(mode="json") for a in self._api.list_spot_availability()],
        )
        return [AuctionModel.model_validate(item) for item in raw]

    def offers(self, instance_type_fid: str | None = None) -> list[RegionOffer]:
        """Returns offers per (instance type, region), optionally of one type only."""
        return [
            RegionOffer(
                instance_type_fid=auction.instance_type,
                instance_type=self._display_name(auction.instance_type),
                region=auction.region,
                capacity=auction.capacity,
                price=parse_price(auction.last_instance_price),
                auction_fid=auction.fid,
            )
            for auction in self.auctions()
            if instance_type_fid is None or auction.instance_type == instance_type_fid
        ]

    def select(
        self,
        instance_type_fid: str,
        *,
        quantity: int = 1,
        region: str | None = None,
        max_price: float | None = None,
    ) -> RegionOffer:
        """Returns the offer to bid on.

        Args:
            instance_type_fid: Instance type id.
            quantity: Instances needed.
            region: Region the user asked for, if any.
            max_price: Highest acceptable price per instance-hour, if any.

        Returns:
            The chosen offer; its ``instance_type_fid`` may be a twin of the one asked
            for (a type of the same catalogue name) when that one had the better offer.

        Raises:
            InsufficientCapacityError: Nothing fits; the one-line message lists where
                capacity exists (types, regions, prices).
            ValidationError: ``region`` is not a region of any offer.
        """
        request = RegionRequest(
            instance_type_fid=instance_type_fid,
            instance_type=self._display_name(instance_type_fid),
            quantity=quantity,
            region=region,
            max_price=max_price,
            alternatives=tuple(t for t in self._twins(instance_type_fid) if t != instance_type_fid),
        )
        offers = self.offers()
        known = sorted({offer.region for offer in offers})
        if region is not None and known and region not in known:
            raise ValidationError(
                f"unknown region {region!r}; regions: {', '.join(known)}", field="region"
            )
        return self._policy.select(offers, request)

    def invalidate(self) -> None:
        """Forgets cached availability (e.g. after a bid failed for capacity)."""
        self._cache.invalidate(CACHE_KEY)


def roomiest_region(offers: Sequence[RegionOffer]) -> str | None:
    """Returns the region with the most free capacity (then the cheapest, then by name)."""
    ranked = sorted(offers, key=lambda o: (-o.capacity, o.price, o.region))
    return ranked[0].region if ranked else None


class DefaultRegion:
    """Where resources that name no region go (new volumes, reservations).

    The configured region when there is one; otherwise the region with the most
    free spot capacity, so a volume made without a region sits where tasks can run.

    Args:
        offers: Returns the spot offers (``RegionSelector.offers``).
        configured: The configured region, if any.
    """

    def __init__(
        self, offers: Callable[[], Sequence[RegionOffer]], configured: str | None = None
    ) -> None:
        self._offers = offers
        self._configured = configured

    def __call__(self) -> str:
        """Returns the region.

        Raises:
            ConfigurationError: No region is configured and no region has offers.
        """
        if self._configured:
            return self._configured
        found = roomiest_region(self._offers())
        if found is None:
            raise ConfigurationError(
                "no region is configured and Mithril lists no spot offers to pick one from",
                suggestion="set one: %flow config region=<region>",
            )
        return found
