"""Records rendered as the spec's response bodies (plain dicts, validated by FastAPI)."""

from __future__ import annotations

from typing import Any

from flow_notebook.sandbox.catalog import format_price
from flow_notebook.sandbox.market import Auction, Market
from flow_notebook.sandbox.state import Bid, Instance, Project, SshKey, User, Volume


def bid_body(bid: Bid) -> dict[str, Any]:
    """Returns the ``BidModel`` body of ``bid``."""
    return {
        "fid": bid.fid,
        "name": bid.name,
        "project": bid.project,
        "created_by": bid.created_by,
        "created_at": bid.created_at,
        "deactivated_at": bid.deactivated_at,
        "limit_price": format_price(bid.limit_cents),
        "instance_quantity": bid.instance_quantity,
        "instance_type": bid.instance_type,
        "region": bid.region,
        "instances": list(bid.instances),
        "launch_specification": dict(bid.launch_specification),
        "status": bid.status,
    }


def instance_body(instance: Instance) -> dict[str, Any]:
    """Returns the ``InstanceModel`` body of ``instance``."""
    return {
        "fid": instance.fid,
        "name": instance.name,
        "project": instance.project,
        "created_at": instance.created_at,
        "created_by": instance.created_by,
        "instance_type": instance.instance_type,
        "region": instance.region,
        "bid": instance.bid,
        "reservation": None,
        "ssh_destination": instance.ssh_destination,
        "private_ip": instance.private_ip,
        "status": instance.status,
    }


def volume_body(volume: Volume) -> dict[str, Any]:
    """Returns the ``VolumeModel`` body of ``volume``."""
    return {
        "fid": volume.fid,
        "name": volume.name,
        "region": volume.region,
        "created_at": volume.created_at,
        "deleted_at": volume.deleted_at,
        "capacity_gb": volume.capacity_gb,
        "project": volume.project,
        "interface": volume.interface,
        "bids": list(volume.bids),
        "reservations": [],
        "attachments": dict(volume.attachments),
    }


def ssh_key_body(key: SshKey) -> dict[str, Any]:
    """Returns the ``NewSshKeyModel`` body of ``key``."""
    return {
        "fid": key.fid,
        "name": key.name,
        "project": key.project,
        "public_key": key.public_key,
        "created_at": key.created_at,
        "required": key.required,
    }


def project_body(project: Project) -> dict[str, Any]:
    """Returns the ``ProjectModel`` body of ``project``."""
    return {"fid": project.fid, "name": project.name, "created_at": project.created_at}


def me_body(user: User) -> dict[str, Any]:
    """Returns the ``MeResponse`` body of ``user``."""
    return {
        "id": user.fid.removeprefix("user_"),
        "fid": user.fid,
        "email": user.email,
        "user_name": user.email.split("@", 1)[0],
        "organization_id": "org_sandbox",
        "organization_role": user.role,
    }


def teammate_body(user: User, project_ids: list[str]) -> dict[str, Any]:
    """Returns the ``TeammateResponse`` body of ``user`` with the projects the caller may see."""
    return {
        "id": user.fid.removeprefix("user_"),
        "fid": user.fid,
        "user_name": user.email.split("@", 1)[0],
        "email": user.email,
        "organization_role": user.role,
        "project_ids": project_ids,
        "deactivated_at": None,
    }


def bid_history_body(bid: Bid) -> dict[str, Any]:
    """Returns the ``BidHistoryResponse`` body of ``bid`` (events oldest first)."""
    events = []
    for event in sorted(bid.history, key=lambda e: e.timestamp):
        disk = None
        if event.attached or event.removed:
            disk = {"attached": event.attached, "removed": event.removed}
        events.append(
            {
                "timestamp": event.timestamp,
                "event_type": event.event_type,
                "limit_price": event.limit_price,
                "user_id": event.user_id,
                "memory_gb": event.memory_gb,
                "persistent_disk_change": disk,
            }
        )
    return {"bid_fid": bid.fid, "events": events}


def instance_status_body(instance: Instance) -> dict[str, Any]:
    """Returns the ``InstanceStatusResponse`` body of ``instance``."""
    return {
        "fid": instance.fid,
        "name": instance.name,
        "status": instance.status,
        "bid": instance.bid,
        "reservation": None,
        "end_time": instance.end_time,
    }


def auction_body(market: Market, auction: Auction) -> dict[str, Any]:
    """Returns the ``AuctionModel`` body of ``auction`` (capacity = what is still free)."""
    lowest = market.lowest_allocated(auction)
    return {
        "fid": auction.fid,
        "instance_type": auction.instance_type,
        "region": auction.region,
        "capacity": max(auction.capacity - market.used(auction), 0),
        "last_instance_price": format_price(auction.price_cents),
        "lowest_allocated_price": format_price(lowest) if lowest is not None else None,
        "adjustable_memory": False,
        "default_image_version": None,
    }
