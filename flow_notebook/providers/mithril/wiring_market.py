"""The HTTP side of the Mithril wiring: the API client, account caches, catalogue and prices.

Nothing here needs the project except ``project`` and ``account``, which resolve it
when first used; ``Wiring`` (``wiring.py``) holds this part as ``market``.
"""

from __future__ import annotations

from flow_notebook.providers.mithril.api.client import ApiClient
from flow_notebook.providers.mithril.api.dto import AuctionModel
from flow_notebook.providers.mithril.domain.account import AccountService, resolve_project
from flow_notebook.providers.mithril.domain.caches import DiskTtlCache
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog
from flow_notebook.providers.mithril.domain.offers import OfferService
from flow_notebook.providers.mithril.domain.price_history import PriceHistoryService
from flow_notebook.providers.mithril.domain.pricing import AuctionPricingSource, PricingService
from flow_notebook.providers.mithril.domain.region import (
    CheapestWithCapacityPolicy,
    DefaultRegion,
    RegionSelector,
)
from flow_notebook.providers.mithril.init_interface import MithrilInit
from flow_notebook.providers.mithril.wiring_base import WiringBase, provided

CATALOG_TTL = 6 * 3600.0
AVAILABILITY_TTL = 30.0


class MarketWiring(WiringBase):
    """Builds the API client and the services that only need HTTP (see ``WiringBase``)."""

    def close(self) -> None:
        """Closes the API client and the caches that were built. Safe to call twice."""
        for name in ("api", "disk_cache", "availability_cache"):
            target = self.built(name)
            if target is not None:
                target.close()

    @provided
    def api(self) -> ApiClient:
        """The one pooled API client."""
        return ApiClient.from_config(self.config)

    @provided
    def disk_cache(self) -> DiskTtlCache:
        """Long-lived cache of this account (catalogue, projects)."""
        return DiskTtlCache(self._account_dir / "catalog", CATALOG_TTL)

    @provided
    def availability_cache(self) -> DiskTtlCache:
        """Short-lived cache of spot availability."""
        return DiskTtlCache(self._account_dir / "availability", AVAILABILITY_TTL)

    @provided
    def project(self) -> str:
        """The project id (the configured name or id, resolved once and cached)."""
        return resolve_project(self.api, self.config.project, self.disk_cache)

    @provided
    def account(self) -> AccountService:
        """Users, projects and SSH keys."""
        return AccountService(self.api, self.project, self.config.home / "keys")

    # --- market ----------------------------------------------------------------------

    @provided
    def catalog(self) -> InstanceTypeCatalog:
        """Instance types."""
        return InstanceTypeCatalog(self.api, self.disk_cache)

    @provided
    def regions(self) -> RegionSelector:
        """Availability and region choice."""
        return RegionSelector(
            self.api,
            CheapestWithCapacityPolicy(),
            self.availability_cache,
            self.catalog.display_name,
            self.catalog.twins,
        )

    @provided
    def pricing(self) -> PricingService:
        """Limit prices from the (cached) auctions."""
        return PricingService(AuctionPricingSource(_CachedAuctions(self.regions)))

    @provided
    def offers(self) -> OfferService:
        """Offer search and GPU request normalization."""
        return OfferService(self.catalog, self.regions)

    @provided
    def price_history(self) -> PriceHistoryService:
        """Past spot prices."""
        return PriceHistoryService(self.api, self.catalog.resolve, self.catalog.display_name)

    @provided
    def default_region(self) -> DefaultRegion:
        """Region of resources that name none: the configured one, else the roomiest."""
        return DefaultRegion(self.regions.offers, self.config.region)

    @provided
    def init_interface(self) -> MithrilInit:
        """Setup helpers."""
        return MithrilInit(self.config)


class _CachedAuctions:
    """Gives the pricing source the region selector's cached auctions."""

    def __init__(self, regions: RegionSelector) -> None:
        self._regions = regions

    def list_spot_availability(self) -> list[AuctionModel]:
        """Returns the cached auctions."""
        return self._regions.auctions()
