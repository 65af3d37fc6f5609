"""Builds core ``Task`` objects from Mithril bids and their instances.

Status comes from the bid status, the instances' statuses and, when the task's
command has ended, its recorded exit code, in this order of precedence:

1. an exit code is known: ``completed`` (0) or ``failed`` (anything else);
2. an instance is ``STATUS_ERROR``: ``failed``;
3. the bid is ``Open``: ``pending``; ``Preempting``: ``preempting``; ``Paused``:
   ``paused``; ``Terminated``: ``cancelled``; ``Relocating``: ``provisioning``;
4. the bid is ``Allocated``: an instance preempting or preempted makes it
   ``preempting``; one paused makes it ``paused``; ``running`` needs every instance
   running; anything else (new, starting, relocating, replaced, stopping or
   terminated while the bid still holds capacity) is ``provisioning``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flow_notebook.core.errors import FlowError, PriceValidationError
from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.providers.mithril.adapters.convert import parse_ssh_destination
from flow_notebook.providers.mithril.api.dto import BidModel, InstanceModel
from flow_notebook.providers.mithril.domain.pricing import parse_price

PROVIDER_NAME = "mithril"

SpotPrice = Callable[[str, str | None], float | None]
"""Returns the spot price per instance-hour of an instance type id in a region."""
# Bid states in which instances run and are billed at the spot price.
_PAYING = frozenset({"Allocated", "Preempting"})

_BID_STATUS = {
    "Open": TaskStatus.PENDING,
    "Preempting": TaskStatus.PREEMPTING,
    "Paused": TaskStatus.PAUSED,
    "Terminated": TaskStatus.CANCELLED,
    "Relocating": TaskStatus.PROVISIONING,
}
_PREEMPTING = frozenset({"STATUS_PREEMPTING", "STATUS_PREEMPTED"})


def map_status(
    bid_status: str, instance_statuses: Sequence[str], exit_code: int | None = None
) -> TaskStatus:
    """Returns the task status for a bid status, its instances' statuses and an exit code.

    Args:
        bid_status: The bid's status (``BidStatus`` or ``BidDetailedStatus``).
        instance_statuses: Status of each of the bid's instances.
        exit_code: The command's exit code when it has ended.

    Returns:
        The task status (see the module docstring for the table).
    """
    if exit_code is not None:
        return TaskStatus.COMPLETED if exit_code == 0 else TaskStatus.FAILED
    statuses = set(instance_statuses)
    if "STATUS_ERROR" in statuses:
        return TaskStatus.FAILED
    if bid_status in _BID_STATUS:
        return _BID_STATUS[bid_status]
    if statuses & _PREEMPTING:
        return TaskStatus.PREEMPTING
    if "STATUS_PAUSED" in statuses:
        return TaskStatus.PAUSED
    if statuses == {"STATUS_RUNNING"}:
        return TaskStatus.RUNNING
    return TaskStatus.PROVISIONING


class TaskService:
    """Turns a bid and its instances into a ``Task``.

    The price shown is what the bid pays: the spot price of its type and region
    while it is allocated (a spot bid pays the market price, not its limit); before
    and after that, the limit price, marked ``price_basis: "limit"`` in the metadata.
    ``metadata["limit_per_hour"]`` always holds the limit for all instances.

    Args:
        display_name: Maps an instance type id to its display name (e.g. the
            catalogue's ``display_name``).
        default_ssh_user: SSH user when an instance's destination names none.
        spot_price: Returns the current spot price per instance-hour of an instance
            type id in a region (cached), or ``None`` when unknown.
    """

    def __init__(
        self,
        display_name: Callable[[str], str] = str,
        default_ssh_user: str = "ubuntu",
        spot_price: SpotPrice | None = None,
    ) -> None:
        self._display_name = display_name
        self._ssh_user = default_ssh_user
        self._spot_price = spot_price

    def build_task(
        self,
        bid: BidModel,
        instances: Sequence[InstanceModel] = (),
        *,
        exit_code: int | None = None,
        current_price: float | None = None,
        command: str | None = None,
    ) -> Task:
        """Returns the task a bid stands for.

        Args:
            bid: The bid.
            instances: Its instances (any order; ordered by the bid's list).
            exit_code: The command's exit code, when read from the instance.
            current_price: Current spot price per instance-hour; the limit price
                is used for the cost when it is unknown.
            command: Command line to show, when known.

        Returns:
            The task, with ``metadata`` holding the bid id, project, region, instance
            type id and limit price.
        """
        ordered = _in_bid_order(bid, instances)
        status = map_status(bid.status, [i.status for i in ordered], exit_code)
        if current_price is None and bid.status in _PAYING:
            current_price = self._current_spot(bid)
        endpoint = next(
            (
                found
                for found in (
                    parse_ssh_destination(i.ssh_destination, self._ssh_user) for i in ordered
                )
                if found
            ),
            None,
        )
        return Task(
            task_id=bid.fid,
            name=bid.name,
            status=status,
            provider=PROVIDER_NAME,
            instance_type=self._display_name(bid.instance_type),
            num_instances=bid.instance_quantity,
            region=bid.region,
            cost_per_hour=self._cost_per_hour(bid, current_price),
            created_at=bid.created_at,
            started_at=_started_at(ordered, status),
            completed_at=bid.deactivated_at if status.is_terminal else None,
            exit_code=exit_code,
            message=_message(ordered),
            ssh_host=endpoint.host if endpoint else None,
            ssh_port=endpoint.port if endpoint else None,
            ssh_user=endpoint.user if endpoint else None,
            instances=list(bid.instances),
            command=command,
            metadata={
                **_metadata(bid),
                "limit_per_hour": _limit_per_hour(bid),
                "price_basis": "limit" if current_price is None else "spot",
            },
        )

    def _current_spot(self, bid: BidModel) -> float | None:
        if self._spot_price is None:
            return None
        try:
            return self._spot_price(bid.instance_type, bid.region)
        except FlowError:
            return None  # the listing still shows the task, priced at its limit

    @staticmethod
    def _cost_per_hour(bid: BidModel, current_price: float | None) -> float | None:
        if current_price is not None:
            return round(current_price * bid.instance_quantity, 4)
        return _limit_per_hour(bid)


def _limit_per_hour(bid: BidModel) -> float | None:
    try:
        return round(parse_price(bid.limit_price) * bid.instance_quantity, 4)
    except PriceValidationError:
        return None


def _in_bid_order(bid: BidModel, instances: Sequence[InstanceModel]) -> list[InstanceModel]:
    position = {fid: index for index, fid in enumerate(bid.instances)}
    return sorted(instances, key=lambda i: position.get(i.fid, len(position)))


def _started_at(instances: Sequence[InstanceModel], status: TaskStatus) -> Any:
    if status in (TaskStatus.PENDING, TaskStatus.PROVISIONING) or not instances:
        return None
    return min(i.created_at for i in instances)


def _message(instances: Sequence[InstanceModel]) -> str | None:
    failed = [i.fid for i in instances if i.status == "STATUS_ERROR"]
    return f"instance {', '.join(failed)} is in STATUS_ERROR" if failed else None


def _metadata(bid: BidModel) -> dict[str, Any]:
    return {
        "bid_fid": bid.fid,
        "project": bid.project,
        "region": bid.region,
        "instance_type_fid": bid.instance_type,
        "limit_price": bid.limit_price,
    }
