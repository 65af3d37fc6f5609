"""The sandbox's market catalogue: Mithril's instance types and regions, with offers.

Prices are integer cents per instance-hour; the API shows them as dollar strings
(``"$25.60"``) in bids and auctions and as cents in ``/v2/pricing/current``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REGIONS: tuple[str, ...] = (
    "us-central1-a",
    "us-central1-b",
    "us-central2-a",
    "us-central5-a",
    "us-east1-a",
    "eu-central1-a",
    "eu-central1-b",
    "me-central1-a",
)
"""Mithril's regions."""


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
    ib_count: int = 0
    bridge_count: int = 0
    cpu_type: str = "Intel"

    def to_api(self) -> dict[str, object]:
        """Returns the ``InstanceTypeModel`` body."""
        return {
            "fid": self.fid,
            "name": self.name,
            "num_cpus": self.num_cpus,
            "cpu_type": self.cpu_type,
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


def _a100(fid: str, gpus: int) -> InstanceType:
    ib = 8 if gpus == 8 else 0
    return InstanceType(
        fid, f"a100-80gb.sxm.{gpus}x", gpus, "A100", 80, "SXM4", 30 * gpus, 225 * gpus,
        975 * gpus, ib, ib // 2,
    )  # fmt: skip


def _b200(fid: str, gpus: int) -> InstanceType:
    ib = 8 if gpus == 8 else 0
    return InstanceType(
        fid, f"b200-192gb.{gpus}x", gpus, "B200", 192, "SXM6", 28 * gpus, 280 * gpus,
        3500 * gpus, ib, ib // 2, "AMD",
    )  # fmt: skip


def _v6e(fid: str, chips: int) -> InstanceType:
    return InstanceType(
        fid, f"v6e-{chips}", chips, "TPU v6e", 32, "TPU", 44 * chips, 180 * chips, 100 * chips
    )


# Mithril's real ids and names (two generations share the name h100-80gb.sxm.8x).
INSTANCE_TYPES: tuple[InstanceType, ...] = (
    _a100("it_RrgkIZz6c9BZu5gi", 1),
    _a100("it_TiAPxzKNi4xO0IAr", 2),
    _a100("it_4TugeYWOov5FllEf", 4),
    _a100("it_Sg1nDx1I8NFep60J", 8),
    InstanceType(
        "it_5ECSoHQjLBzrp5YM", "h100-80gb.sxm.8x", 8, "H100", 80, "SXM5", 208, 1800, 7800, 8, 4
    ),
    InstanceType(
        "it_XqgKWbhZ5gznAYsG",
        "h100-80gb.sxm.8x",
        8,
        "H100",
        80,
        "SXM5",
        224,
        2000,
        15000,
        8,
        4,
        "AMD",
    ),  # fmt: skip
    InstanceType("it_7RHoQUztab9lU9Ne", "h200.8x", 8, "H200", 141, "SXM5", 224, 2000, 15000, 8, 4),
    InstanceType(
        "it_q0o0UtmD4bgy36kb", "neb-b200.sxm.8x", 8, "B200", 180, "SXM6", 128, 1792, 25600, 8, 4
    ),
    _b200("it_nFEHySv5IMnHKbKi", 8),
    _b200("it_tcjiKnwIK0jX21t3", 1),
    _b200("it_WCJ0NkfuADQ7yexV", 2),
    _b200("it_OS38SJAdsS1l6QFU", 4),
    _v6e("it_iBJ0PZl0NszKMxPu", 1),
    _v6e("it_tGQ0hu1bV2rY2fEO", 4),
    _v6e("it_2vblKKB0L8sRG8K7", 8),
)

# Where each type is sold and at what starting spot price: region -> (instances that
# fit at once, cents per instance-hour). Not every type is in every region.
OFFERS: dict[str, dict[str, tuple[int, int]]] = {
    "it_RrgkIZz6c9BZu5gi": {"us-central1-a": (8, 120), "us-central1-b": (6, 115),
                            "eu-central1-a": (4, 135)},
    "it_TiAPxzKNi4xO0IAr": {"us-central1-a": (4, 240), "us-central1-b": (4, 235),
                            "eu-central1-a": (2, 270)},
    "it_4TugeYWOov5FllEf": {"us-central1-a": (2, 480), "us-central1-b": (2, 470)},
    "it_Sg1nDx1I8NFep60J": {"us-central1-a": (2, 960), "us-central1-b": (1, 940),
                            "eu-central1-a": (1, 1080)},
    "it_5ECSoHQjLBzrp5YM": {"us-central1-a": (2, 1960), "us-central2-a": (4, 1920),
                            "us-east1-a": (2, 2000)},
    "it_XqgKWbhZ5gznAYsG": {"us-central5-a": (4, 2080), "eu-central1-b": (2, 2240),
                            "me-central1-a": (2, 2160)},
    "it_7RHoQUztab9lU9Ne": {"us-central2-a": (2, 2640), "us-central5-a": (2, 2560)},
    "it_q0o0UtmD4bgy36kb": {"eu-central1-a": (2, 3440), "eu-central1-b": (1, 3520)},
    "it_nFEHySv5IMnHKbKi": {"us-central5-a": (2, 3520), "us-east1-a": (1, 3600)},
    "it_tcjiKnwIK0jX21t3": {"us-central5-a": (4, 440), "us-east1-a": (4, 460)},
    "it_WCJ0NkfuADQ7yexV": {"us-central5-a": (2, 880), "us-east1-a": (2, 920)},
    "it_OS38SJAdsS1l6QFU": {"us-central5-a": (2, 1760)},
    "it_iBJ0PZl0NszKMxPu": {"us-central2-a": (8, 130), "eu-central1-b": (4, 140)},
    "it_tGQ0hu1bV2rY2fEO": {"us-central2-a": (4, 520)},
    "it_2vblKKB0L8sRG8K7": {"us-central2-a": (2, 1040)},
}  # fmt: skip

_PRICE = re.compile(r"^\$(\d{1,7})(?:\.(\d{1,2}))?$")


def reserved_price_cents(spot_cents: int) -> int:
    """Returns the reserved price that goes with a spot price (half again as much)."""
    return spot_cents * 3 // 2


def find_instance_type(key: str) -> InstanceType | None:
    """Returns the instance type whose fid or name is ``key``, or ``None``.

    A name two types share (``h100-80gb.sxm.8x``) finds the first of them.
    """
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
