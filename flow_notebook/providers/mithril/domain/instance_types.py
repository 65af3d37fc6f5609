"""The instance-type catalogue: ids, display names (``8xh100``) and user spellings.

The catalogue rarely changes, so it is read through a cache (a ``DiskTtlCache`` in
production, so a new kernel does not refetch it).
"""

from __future__ import annotations

import re
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

    def twins(self, instance_type_fid: str) -> list[str]:
        """Returns the ids of the types that share this one's catalogue name, it first.

        Mithril lists two generations of one shape under one name (``h100-80gb.sxm.8x``);
        a task asking for that shape may run on either.
        """
        found = self.get(instance_type_fid)
        if found is None:
            return [instance_type_fid]
        same = [t.fid for t in self.all() if t.name == found.name and t.fid != found.fid]
        return [instance_type_fid, *same]

    def resolve(self, user_spec: str) -> str:
        """Returns the id of the type a user means, from the catalogue the API returns.

        Accepts an id (``it_...``), a catalogue name (``a100-80gb.sxm.2x``), a count and
        GPU in either order (``2xa100``, ``a100x2``, ``8xH100``) or a bare GPU name
        (``a100``), which means one GPU when the catalogue has a 1x type and otherwise
        the only count it has (``h100`` is 8x). Types that share a catalogue name are one
        choice (the first listed; ``twins`` gives the others).

        Args:
            user_spec: What the user typed.

        Returns:
            The instance type id.

        Raises:
            ValidationError: Unknown, or ambiguous (several names, or several counts of
                a bare GPU name and no 1x), in one line naming the choices.
        """
        spec = _spelling(user_spec)
        catalogue = self.all()
        for matches in (
            # Ids are case-sensitive (it_Sg1n... and it_SG1N... are different ids); names are not.
            [t for t in catalogue if t.fid == user_spec.strip()],
            [t for t in catalogue if t.name.lower() == spec],
            [t for t in catalogue if instance_type_display_name(t).lower() == spec],
        ):
            if matches:
                return _one(matches, user_spec)
        same_gpu = [t for t in catalogue if _gpu_of(t) == spec]
        if same_gpu:
            return _by_count(same_gpu, user_spec)
        known = ", ".join(sorted({instance_type_display_name(t) for t in catalogue})) or "none"
        raise ValidationError(
            f"unknown instance type {user_spec!r}; known types: {known}", field="instance_type"
        )

    def invalidate(self) -> None:
        """Forgets the cached catalogue."""
        self._cache.invalidate(CACHE_KEY)


_COUNT_FIRST = re.compile(r"^(\d+)\s*[x*×]\s*([a-z][\w.-]*)$")
_COUNT_LAST = re.compile(r"^([a-z][\w.-]*?)\s*[x*×:]\s*(\d+)$")


def _spelling(user_spec: str) -> str:
    """Returns ``user_spec`` lower-cased, with a count and GPU spelled ``2xa100``."""
    spec = user_spec.strip().lower()
    first = _COUNT_FIRST.match(spec)
    if first:
        return f"{int(first.group(1))}x{first.group(2)}"
    last = _COUNT_LAST.match(spec)
    if last and not spec.startswith("it_"):
        return f"{int(last.group(2))}x{last.group(1)}"
    return spec


def _gpu_of(instance_type: InstanceTypeModel) -> str:
    """Returns the GPU part of the display name (``h100`` of ``8xh100``)."""
    return instance_type_display_name(instance_type).lower().partition("x")[2]


def _one(matches: list[InstanceTypeModel], user_spec: str) -> str:
    """Returns the id when every match has one catalogue name; else says it is ambiguous."""
    if len({t.name for t in matches}) == 1:
        return matches[0].fid
    names = ", ".join(sorted(f"{t.name} ({t.fid})" for t in matches))
    raise ValidationError(
        f"instance type {user_spec!r} is ambiguous: {names}",
        field="instance_type",
        suggestion="give the catalogue name or id",
    )


def _by_count(same_gpu: list[InstanceTypeModel], user_spec: str) -> str:
    """A bare GPU name: the 1x type, else the only count there is, else name the counts."""
    counts = sorted({t.num_gpus for t in same_gpu})
    wanted = 1 if 1 in counts else counts[0] if len(counts) == 1 else None
    if wanted is not None:
        return _one([t for t in same_gpu if t.num_gpus == wanted], user_spec)
    gpu = _gpu_of(same_gpu[0])
    choices = ", ".join(f"{n}x{gpu}" for n in counts)
    raise ValidationError(
        f"instance type {user_spec!r} comes in {choices}; say which, e.g. --gpu {counts[0]}x{gpu}",
        field="instance_type",
    )
