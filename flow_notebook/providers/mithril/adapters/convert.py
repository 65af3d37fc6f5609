"""Conversion functions from Mithril DTOs to ``flow_notebook.core.models``.

Every function here is pure: no API calls, no caches. Prices arrive as dollar
strings and leave as dollars (``float``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flow_notebook.core.errors import PriceValidationError, ProviderResponseError
from flow_notebook.core.models import AvailableInstance, Instance, User, Volume
from flow_notebook.providers.mithril.api.dto import (
    AuctionModel,
    InstanceModel,
    InstanceTypeModel,
    MeResponse,
    ProjectModel,
    TeammateResponse,
    VolumeModel,
)
from flow_notebook.providers.mithril.domain.pricing import parse_price

DEFAULT_SSH_USER = "ubuntu"
DEFAULT_SSH_PORT = 22


@dataclass(frozen=True)
class SshEndpoint:
    """Where to reach an instance over SSH.

    Attributes:
        host: Host name or IP address.
        port: TCP port.
        user: Login user.
    """

    host: str
    port: int = DEFAULT_SSH_PORT
    user: str = DEFAULT_SSH_USER


def instance_type_display_name(instance_type: InstanceTypeModel) -> str:
    """Returns the short name users type, e.g. ``8xh100``; the catalogue name without GPUs."""
    if instance_type.num_gpus <= 0 or not instance_type.gpu_type.strip():
        return instance_type.name
    gpu = instance_type.gpu_type.strip().lower().replace(" ", "-")
    return f"{instance_type.num_gpus}x{gpu}"


def parse_ssh_destination(
    destination: str | None, default_user: str = DEFAULT_SSH_USER
) -> SshEndpoint | None:
    """Parses ``[user@]host[:port]`` (IPv6 hosts in brackets) into an endpoint.

    Args:
        destination: The instance's ``ssh_destination``.
        default_user: User when the destination names none.

    Returns:
        The endpoint, or ``None`` when there is no usable destination.
    """
    text = (destination or "").strip()
    if not text:
        return None
    user = default_user
    if "@" in text:
        user, text = text.rsplit("@", 1)
        user = user or default_user
    port = DEFAULT_SSH_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65_536:
            return None
        port = int(port_text)
    return SshEndpoint(host=host, port=port, user=user) if host else None


def auction_to_available_instance(
    auction: AuctionModel, instance_type: InstanceTypeModel | None = None
) -> AvailableInstance:
    """Converts a spot auction into an offer.

    Args:
        auction: The auction.
        instance_type: Its catalogue entry, for the display name and hardware.

    Returns:
        The offer; without a catalogue entry the type is shown by its id.

    Raises:
        ProviderResponseError: The auction's price cannot be read.
    """
    try:
        price = parse_price(auction.last_instance_price)
    except PriceValidationError as exc:
        raise ProviderResponseError(
            f"auction {auction.fid} has an unreadable price {auction.last_instance_price!r}"
        ) from exc
    hardware: dict[str, Any] = {}
    if instance_type is not None:
        hardware = {
            "instance_type": instance_type_display_name(instance_type),
            "gpu_type": instance_type.gpu_type.lower(),
            "gpu_count": instance_type.num_gpus,
            "cpu_cores": instance_type.num_cpus,
            "memory_gb": instance_type.ram_gb,
            "internode_interconnect": instance_type.network_type,
        }
    return AvailableInstance(
        allocation_id=auction.fid,
        instance_type=hardware.pop("instance_type", auction.instance_type),
        region=auction.region,
        price_per_hour=price,
        available_quantity=auction.capacity,
        status="available" if auction.capacity > 0 else "unavailable",
        **hardware,
    )


def instance_to_core(
    instance: InstanceModel,
    *,
    task_id: str | None = None,
    instance_type_name: str | None = None,
    default_user: str = DEFAULT_SSH_USER,
) -> Instance:
    """Converts an instance, parsing ``ssh_destination`` into host, port and user.

    Args:
        instance: The instance.
        task_id: Task it belongs to; its bid id by default.
        instance_type_name: Display name of its type; its type id by default.
        default_user: SSH user when the destination names none.

    Returns:
        The core instance.
    """
    endpoint = parse_ssh_destination(instance.ssh_destination, default_user)
    return Instance(
        instance_id=instance.fid,
        task_id=task_id or instance.bid or instance.reservation or "",
        status=instance.status,
        instance_type=instance_type_name or instance.instance_type,
        region=instance.region,
        ssh_host=endpoint.host if endpoint else None,
        ssh_port=endpoint.port if endpoint else None,
        ssh_user=endpoint.user if endpoint else None,
        private_ip=instance.private_ip,
        created_at=instance.created_at,
    )


def volume_to_core(volume: VolumeModel) -> Volume:
    """Converts a volume; ``attached_to`` lists its bids, then its instances."""
    attached = list(dict.fromkeys([*volume.bids, *volume.attachments.keys()]))
    return Volume(
        volume_id=volume.fid,
        name=volume.name,
        size_gb=volume.capacity_gb,
        region=volume.region,
        interface=volume.interface.lower(),
        created_at=volume.created_at,
        attached_to=attached,
    )


def project_to_dict(project: ProjectModel) -> dict[str, Any]:
    """Returns a project as ``{"id", "name", "created_at"}`` (ISO time)."""
    return {"id": project.fid, "name": project.name, "created_at": project.created_at.isoformat()}


def me_to_user(me: MeResponse) -> User:
    """Converts the caller's profile; the user name falls back to the email."""
    return User(user_id=me.fid, username=me.user_name or me.email, email=me.email)


def teammate_to_user(teammate: TeammateResponse) -> User:
    """Converts a teammate; the user name falls back to the email, then the id."""
    return User(
        user_id=teammate.fid,
        username=teammate.user_name or teammate.email or teammate.fid,
        email=teammate.email,
    )
