"""The sandbox's market catalogue: instance types, regions and their starting prices.

Prices are integer cents per instance-hour; the API shows them as dollar strings
(``"$25.60"``) in bids and auctions and as cents in ``/v2/pricing/current``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REGIONS: tuple[str, ...] = ("us-central1-a", "us-central1-b", "eu-central1-a")


@dataclass(frozen=True)
class InstanceType:
    """One instance type, shaped like the spec's ``InstanceTypeModel``."""

    fid: str
    name: str
    num_gpus: int
    gpu_type: str
    gpu_memory_gb: int
    gpu_socket: str
    num_cpus: int
    ram_gb: int
    local_storage_gb: int
    ib_count: int
    bridge_count: int
    base_price_cents: int

    def to_api(self) -> dict[str, object]:
        """Returns the ``InstanceTypeModel`` body."""
        return {
            "fid": self.fid,
            "name": self.name,
            "num_cpus": self.num_cpus,
            "cpu_type": "Intel",
            "ram_gb": self.ram_gb,
            "num_gpus": self.num_gpus,
            "gpu_type": self.gpu_type,
            "gpu_memory_gb": self.gpu_memory_gb,
            "gpu_socket": self.gpu_socket,
            "local_storage_gb": self.local_storage_gb,
            "network_type": "InfiniBand" if self.ib_count else None,
            "ib_count": self.ib_count,
            "bridge_count": self.bridge_count,
        }


INSTANCE_TYPES: tuple[InstanceType, ...] = (
    InstanceType(
        "it_a100x1sxm4", "a100.80gb.sxm4.1x", 1, "A100", 80, "SXM4", 24, 225, 1000, 0, 0, 180
    ),
    InstanceType(
        "it_a100x8sxm4", "a100.80gb.sxm4.8x", 8, "A100", 80, "SXM4", 192, 1800, 7800, 8, 4, 1440
    ),
    InstanceType(
        "it_h100x1sxm5", "h100.80gb.sxm5.1x", 1, "H100", 80, "SXM5", 24, 225, 1000, 0, 0, 320
    ),
    InstanceType(
        "it_h100x8sxm5", "h100.80gb.sxm5.8x", 8, "H100", 80, "SXM5", 192, 1800, 7800, 8, 4, 2560
    ),
)

DEFAULT_CAPACITY = 8
"""Instances of each type each region can run at once, unless changed."""

_PRICE = re.compile(r"^\$(\d{1,7})(?:\.(\d{1,2}))?$")


def reserved_price_cents(spot_cents: int) -> int:
    """Returns the reserved price that goes with a spot price (half again as much)."""
    return spot_cents * 3 // 2


def find_instance_type(key: str) -> InstanceType | None:
    """Returns the instance type whose fid or name is ``key``, or ``None``."""
    for itype in INSTANCE_TYPES:
        if key in (itype.fid, itype.name):
            return itype
    return None


def parse_price(text: str) -> int | None:
    """Returns cents for a dollar string like ``"$25.60"``, or ``None`` when malformed."""
    match = _PRICE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    cents = (match.group(2) or "0").ljust(2, "0")
    return int(match.group(1)) * 100 + int(cents)


def format_price(cents: int) -> str:
    """Returns the dollar string for ``cents`` (``2560`` -> ``"$25.60"``)."""
    return f"${cents // 100}.{cents % 100:02d}"
