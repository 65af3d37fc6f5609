"""Instances of bids: fetched in batches, never one request per task, with SSH info.

``InstanceService`` asks ``GET /v2/instances`` for many bids at once
(``bid_fid_in`` with up to ``batch_size`` ids per request) and remembers the last
record of every instance it saw, so SSH endpoints can be looked up by instance id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from flow_notebook.core.models import Instance
from flow_notebook.providers.mithril.adapters.convert import (
    DEFAULT_SSH_USER,
    instance_to_core,
    parse_ssh_destination,
)
from flow_notebook.providers.mithril.api.dto import InstanceModel, InstanceStatus
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint

DEFAULT_BATCH_SIZE = 50
"""Bid ids per ``GET /v2/instances`` request; keeps the query string short."""
PAGE_SIZE = 100
RUNNING = "STATUS_RUNNING"


class InstancesApi(Protocol):
    """The part of ``ApiClient`` that lists instances."""

    def iter_instances(
        self,
        project: str,
        *,
        bid_fid_in: Sequence[str] | None = None,
        reservation_fid_in: Sequence[str] | None = None,
        status_in: Sequence[InstanceStatus] | None = None,
        instance_type: str | None = None,
        region: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[InstanceModel]:
        """Yields every matching instance of a project, page by page."""
        ...


class InstanceService:
    """Fetches and normalizes the instances of bids.

    Args:
        api: Lists instances.
        project: Project id.
        display_name: Maps an instance type id to its display name.
        default_ssh_user: Login user when a destination names none.
        batch_size: Bid ids per request.
    """

    def __init__(
        self,
        api: InstancesApi,
        project: str,
        display_name: Callable[[str], str] = str,
        default_ssh_user: str = DEFAULT_SSH_USER,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._api = api
        self._project = project
        self._display_name = display_name
        self._ssh_user = default_ssh_user
        self._batch = batch_size
        self._seen: dict[str, InstanceModel] = {}
        self._lock = threading.Lock()

    def for_bids(self, bid_fids: Iterable[str]) -> dict[str, list[InstanceModel]]:
        """Returns the instances of each bid, with one request per ``batch_size`` bids.

        Args:
            bid_fids: Bid ids (duplicates are asked for once).

        Returns:
            Bid id -> its instances (an empty list for a bid without any).
        """
        wanted = list(dict.fromkeys(bid_fids))
        found: dict[str, list[InstanceModel]] = {fid: [] for fid in wanted}
        for start in range(0, len(wanted), self._batch):
            batch = wanted[start : start + self._batch]
            for instance in self._api.iter_instances(
                self._project, bid_fid_in=batch, page_size=PAGE_SIZE
            ):
                if instance.bid in found:
                    found[instance.bid].append(instance)
        self._remember(instance for group in found.values() for instance in group)
        return found

    def for_bid(self, bid_fid: str) -> list[InstanceModel]:
        """Returns the instances of one bid."""
        return self.for_bids([bid_fid])[bid_fid]

    def for_reservation(self, reservation_fid: str) -> list[InstanceModel]:
        """Returns the instances of one reservation (one request per page)."""
        found = [
            instance
            for instance in self._api.iter_instances(
                self._project, reservation_fid_in=[reservation_fid], page_size=PAGE_SIZE
            )
            if instance.reservation == reservation_fid
        ]
        self._remember(found)
        return found

    def endpoint(self, instance: InstanceModel) -> SSHEndpoint | None:
        """Returns where to reach ``instance`` over SSH, or ``None`` when it is not reachable."""
        parsed = parse_ssh_destination(instance.ssh_destination, self._ssh_user)
        if parsed is None or instance.status != RUNNING:
            return None
        return SSHEndpoint(parsed.host, parsed.port, parsed.user, instance.fid)

    def endpoints(self, instances: Sequence[InstanceModel]) -> list[SSHEndpoint]:
        """Returns the endpoints of the reachable instances, in the given order."""
        return [found for found in (self.endpoint(i) for i in instances) if found]

    def known_endpoint(self, instance_fid: str) -> list[SSHEndpoint]:
        """Returns the endpoint of an instance seen in the last fetch (empty if none)."""
        with self._lock:
            instance = self._seen.get(instance_fid)
        found = self.endpoint(instance) if instance else None
        return [found] if found else []

    def to_core(self, instance: InstanceModel, task_id: str | None = None) -> Instance:
        """Converts an instance to the core model, with its type's display name."""
        return instance_to_core(
            instance,
            task_id=task_id,
            instance_type_name=self._display_name(instance.instance_type),
            default_user=self._ssh_user,
        )

    def _remember(self, instances: Iterable[InstanceModel]) -> None:
        with self._lock:
            for instance in instances:
                self._seen[instance.fid] = instance


def in_bid_order(order: Sequence[str], instances: Sequence[InstanceModel]) -> list[InstanceModel]:
    """Returns ``instances`` sorted by their position in a bid's ``instances`` list.

    The position is the instance's rank on multi-instance tasks.
    """
    position = {fid: index for index, fid in enumerate(order)}
    return sorted(instances, key=lambda i: position.get(i.fid, len(position)))
