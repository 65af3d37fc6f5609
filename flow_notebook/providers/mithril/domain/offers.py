"""What can be had: offers matching requirements, GPU requests as instance types, the catalogue.

Reads spot availability and the catalogue through their caches (on disk, short
TTL for availability), so browsing offers does not hammer the API.
"""

from __future__ import annotations

import math
from typing import Any

from flow_notebook.core.contracts import check_requirements
from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import AvailableInstance
from flow_notebook.providers.mithril.adapters.convert import (
    auction_to_available_instance,
    instance_type_display_name,
)
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog
from flow_notebook.providers.mithril.domain.region import RegionSelector

DEFAULT_GPU_TYPE = "a100"


class OfferService:
    """Answers "what is available" questions.

    Args:
        catalog: Instance types.
        regions: Spot availability per type and region.
    """

    def __init__(self, catalog: InstanceTypeCatalog, regions: RegionSelector) -> None:
        self._catalog = catalog
        self._regions = regions

    def find(self, requirements: dict[str, Any], limit: int = 10) -> list[AvailableInstance]:
        """Returns offers with capacity that match ``requirements``, cheapest first.

        Args:
            requirements: Any of ``instance_type`` (id or display name), ``gpu_type``,
                ``gpu_count`` (at least), ``region``, ``max_price`` (per hour).
            limit: Most offers returned.

        Raises:
            ValidationError: An unknown requirement key, or an unknown instance type.
        """
        check_requirements(requirements)
        types = {t.fid: t for t in self._catalog.all()}
        wanted_type = requirements.get("instance_type")
        fid = self._catalog.resolve(str(wanted_type)) if wanted_type else None
        offers = [
            auction_to_available_instance(a, types.get(a.instance_type))
            for a in self._regions.auctions()
            if a.capacity > 0 and (fid is None or a.instance_type == fid)
        ]
        matching = [o for o in offers if _matches(o, requirements)]
        matching.sort(key=lambda o: (o.price_per_hour, o.region, o.instance_type))
        return matching[: max(0, limit)]

    def normalize(self, gpu_count: int, gpu_type: str | None = None) -> tuple[str, int, str | None]:
        """Turns "N GPUs of a type" into ``(instance type, instances, warning)``.

        Picks the type with exactly ``gpu_count`` GPUs; above the largest type, whole
        instances of the largest; otherwise the next larger type, with a warning.

        Raises:
            ValidationError: No type has that GPU, or ``gpu_count`` is below 1.
        """
        if gpu_count < 1:
            raise ValidationError("gpu_count must be at least 1", field="gpu_count")
        gpu = (gpu_type or DEFAULT_GPU_TYPE).strip().lower()
        sizes = sorted(
            {t.num_gpus for t in self._catalog.all() if t.gpu_type.lower() == gpu and t.num_gpus}
        )
        if not sizes:
            known = sorted({t.gpu_type.lower() for t in self._catalog.all() if t.num_gpus})
            raise ValidationError(
                f"no instance type has {gpu} GPUs; known GPUs: {', '.join(known) or 'none'}",
                field="gpu_type",
            )
        if gpu_count in sizes:
            return f"{gpu_count}x{gpu}", 1, None
        largest = sizes[-1]
        if gpu_count > largest:
            count = math.ceil(gpu_count / largest)
            warning = None
            if count * largest != gpu_count:
                warning = f"{gpu_count} GPUs rounded up to {count * largest} ({count} x {largest})"
            return f"{largest}x{gpu}", count, warning
        size = next(s for s in sizes if s > gpu_count)
        return f"{size}x{gpu}", 1, f"{gpu_count} GPUs rounded up to {size}x{gpu}"

    def instance_types(self, region: str | None = None) -> list[dict[str, Any]]:
        """Returns the catalogue as dicts, optionally only types offered in ``region``."""
        offered = {a.instance_type for a in self._regions.auctions() if a.region == region}
        return [
            {**t.model_dump(mode="json"), "display_name": instance_type_display_name(t)}
            for t in self._catalog.all()
            if region is None or t.fid in offered
        ]


def _matches(offer: AvailableInstance, requirements: dict[str, Any]) -> bool:
    gpu_type = requirements.get("gpu_type")
    if gpu_type and offer.gpu_type != str(gpu_type).lower():
        return False
    gpu_count = requirements.get("gpu_count")
    if gpu_count and offer.gpu_count < int(gpu_count):
        return False
    region = requirements.get("region")
    if region and offer.region != region:
        return False
    max_price = requirements.get("max_price")
    return not (max_price is not None and offer.price_per_hour > float(max_price))
