"""The HTTP side of the Mithril wiring: the API client, account caches, catalogue and prices."""

from __future__ import annotations

from typing import Any

from flow_notebook.providers.mithril.api.client import ApiClient
from flow_notebook.providers.mithril.domain.account import AccountService, resolve_project
from flow_notebook.providers.mithril.domain.caches import DiskTtlCache
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog
from flow_notebook.providers.mithril.domain.offers import OfferService
from flow_notebook.providers.mithril.domain.price_history import PriceHistoryService
from flow_notebook.providers.mithril.domain.pricing import AuctionPricingSource, PricingService
from flow_notebook.providers.mithril.domain.region import CheapestWithCapacityPolicy, RegionSelector
from flow_notebook.providers.mithril.init_interface import MithrilInit
from flow_notebook.providers.mithril.wiring_base import WiringBase, provided

CATALOG_TTL = 6 * 3600.0
AVAILABILITY_TTL = 30.0


class MarketWiring(WiringBase):
    """Builds the API client and the services that only need HTTP (see ``WiringBase``)."""

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
    def init_interface(self) -> MithrilInit:
        """Setup helpers."""
        return MithrilInit(self.config)

    def _default_region(self) -> str:
        if self.config.region:
            return self.config.region
        offers = sorted(self.regions.offers(), key=lambda o: (-o.capacity, o.price, o.region))
        return offers[0].region if offers else "us-central1-a"


class _CachedAuctions:
    """Gives the pricing source the region selector's cached auctions."""

    def __init__(self, regions: RegionSelector) -> None:
        self._regions = regions

    def list_spot_availability(self) -> list[Any]:
        """Returns the cached auctions."""
        return self._regions.auctions()
