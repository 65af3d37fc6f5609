"""The instance-type catalogue: ids, display names (``8xh100``) and user spellings.

The catalogue rarely changes, so it is read through a cache (a ``DiskTtlCache`` in
production, so a new kernel does not refetch it).
"""

from __future__ import annotations

from typing import Protocol

from flow_notebook.core.errors import ValidationError
from flow_notebook.providers.mithril.adapters.convert import instance_type_display_name
from flow_notebook.providers.mithril.api.dto import InstanceTypeModel
from flow_notebook.providers.mithril.domain.caches import ILoadingCache

CACHE_KEY = "instance_types"


class InstanceTypesApi(Protocol):
    """The part of ``ApiClient`` that reads the catalogue."""

    def list_instance_types(self) -> list[InstanceTypeModel]:
        """Returns every instance type (``GET /v2/instance-types``)."""
        ...


class InstanceTypeCatalog:
    """Looks up instance types by id, display name or catalogue name.

    Args:
        api: Reads the catalogue.
        cache: Holds the catalogue as JSON between calls (and kernels).
    """

    def __init__(self, api: InstanceTypesApi, cache: ILoadingCache) -> None:
        self._api = api
        self._cache = cache

    def all(self) -> list[InstanceTypeModel]:
        """Returns the catalogue, from the cache when fresh."""
        raw = self._cache.get_or_load(
            CACHE_KEY,
            lambda: [t.model_dump(mode="json") for t in self._api.list_instance_types()],
        )
        return [InstanceTypeModel.model_validate(item) for item in raw]

    def get(self, instance_type_fid: str) -> InstanceTypeModel | None:
        """Returns the entry with this id, or ``None``."""
        return next((t for t in self.all() if t.fid == instance_type_fid), None)

    def display_name(self, instance_type_fid: str) -> str:
        """Returns e.g. ``8xh100`` for an id; the id itself when it is not catalogued."""
        found = self.get(instance_type_fid)
        return instance_type_display_name(found) if found else instance_type_fid

    def resolve(self, user_spec: str) -> str:
        """Returns the id of the type a user means.

        Accepts an id (``it_...``), a display name (``8xh100``, any case), a
        catalogue name (``h100.80gb.sxm``) or a bare GPU name (``h100``), which
        means one GPU when such a type exists.

        Args:
            user_spec: What the user typed.

        Returns:
            The instance type id.

        Raises:
            ValidationError: Unknown or ambiguous, naming the choices.
        """
        spec = user_spec.strip().lower()
        catalogue = self.all()
        for matches in (
            [t for t in catalogue if t.fid.lower() == spec],
            [t for t in catalogue if instance_type_display_name(t).lower() == spec],
            [t for t in catalogue if t.name.lower() == spec],
            [t for t in catalogue if instance_type_display_name(t).lower() == f"1x{spec}"],
        ):
            if len(matches) == 1:
                return matches[0].fid
            if len(matches) > 1:
                names = ", ".join(sorted(f"{t.name} ({t.fid})" for t in matches))
                raise ValidationError(
                    f"instance type {user_spec!r} is ambiguous: {names}",
                    field="instance_type",
                    suggestion="give the catalogue name or id",
                )
        known = ", ".join(sorted({instance_type_display_name(t) for t in catalogue})) or "none"
        raise ValidationError(
            f"unknown instance type {user_spec!r}; known types: {known}", field="instance_type"
        )

    def invalidate(self) -> None:
        """Forgets the cached catalogue."""
        self._cache.invalidate(CACHE_KEY)
