"""What the cluster offers: partitions, their nodes, GPUs (GRES) and limits.

Read from ``scontrol -o show partition`` and ``scontrol -o show node`` (one record a
line, ``Key=Value`` pairs), which every Slurm since long has.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_PAIR = re.compile(r"(\w+)=(\S*)")
_UNLIMITED = ("UNLIMITED", "INFINITE", "NONE", "")


@dataclass(frozen=True)
class Node:
    """One compute node.

    Attributes:
        name: Node name.
        state: Slurm state in lower case (``idle``, ``mixed``, ``allocated``, ``down`` ...).
        gpus: GPU count per GPU type (``{"a100": 2}``).
        cpus: CPU count.
        memory_mb: Real memory in MB.
        address: Address the node is reached at.
        gpus_used: GPUs allocated to jobs now (all types).
    """

    name: str
    state: str
    gpus: dict[str, int]
    cpus: int
    memory_mb: int
    address: str
    gpus_used: int = 0

    def fits(self, gpu_type: str | None, count: int) -> bool:
        """Whether the node takes jobs and has ``count`` GPUs of ``gpu_type`` unallocated now."""
        if self.state not in ("idle", "mixed"):
            return False
        if not gpu_type:
            return True
        return self.gpus.get(gpu_type, 0) - self.gpus_used >= count


@dataclass(frozen=True)
class Partition:
    """One partition.

    Attributes:
        name: Partition name.
        default: Whether jobs that name no partition go here.
        up: Whether it accepts jobs.
        max_time_minutes: Longest ``--time``, ``None`` when unlimited.
        max_nodes: Most nodes per job, ``None`` when unlimited.
        nodes: Its nodes.
    """

    name: str
    default: bool
    up: bool
    max_time_minutes: int | None
    max_nodes: int | None
    nodes: tuple[Node, ...]

    def gpu_types(self) -> dict[str, int]:
        """Returns the most GPUs one node has, per GPU type."""
        most: dict[str, int] = {}
        for node in self.nodes:
            for kind, count in node.gpus.items():
                most[kind] = max(most.get(kind, 0), count)
        return most

    def nodes_with(self, gpu_type: str | None, per_node: int) -> list[Node]:
        """Returns the nodes with at least ``per_node`` GPUs of ``gpu_type`` (any node if none)."""
        if not gpu_type:
            return list(self.nodes)
        return [node for node in self.nodes if node.gpus.get(gpu_type, 0) >= per_node]

    def max_time_text(self) -> str:
        """Returns the time limit as Slurm writes it (``2:00:00``) or ``unlimited``."""
        return format_minutes(self.max_time_minutes) if self.max_time_minutes else "unlimited"


class ClusterInfo:
    """Reads the partitions and nodes of the cluster.

    Args:
        run: Runs a command on the login node and returns its output.
        ttl: Seconds an answer is reused (one submission asks several times).
        clock: Monotonic clock; injectable for tests.
    """

    def __init__(
        self,
        run: Callable[[str], str],
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._ttl = ttl
        self._clock = clock
        self._cached: tuple[float, list[Partition]] | None = None

    def partitions(self) -> list[Partition]:
        """Returns every partition with its nodes, default partition first."""
        now = self._clock()
        if self._cached is None or now - self._cached[0] > self._ttl:
            self._cached = (now, self._read())
        return list(self._cached[1])

    def _read(self) -> list[Partition]:
        nodes = {node.name: node for node in parse_nodes(self._run("scontrol -o show node"))}
        listed = self._run("scontrol -o show partition")
        hostnames = self._expand_all(listed)
        found = []
        for record in _records(listed):
            names = hostnames.get(record.get("Nodes", ""), [])
            members = tuple(nodes[n] for n in names if n in nodes)
            found.append(
                Partition(
                    name=record["PartitionName"],
                    default=record.get("Default") == "YES",
                    up=record.get("State") == "UP",
                    max_time_minutes=parse_minutes(record.get("MaxTime", "")),
                    max_nodes=_number(record.get("MaxNodes", "")),
                    nodes=members,
                )
            )
        return sorted(found, key=lambda part: (not part.default, part.name))

    def _expand_all(self, listed: str) -> dict[str, list[str]]:
        lists = sorted({r.get("Nodes", "") for r in _records(listed)} - {"", "(null)"})
        expanded = {}
        for node_list in lists:
            names = self._run(f"scontrol show hostnames {node_list}").split()
            expanded[node_list] = names
        return expanded


def parse_nodes(text: str) -> list[Node]:
    """Parses ``scontrol -o show node`` output."""
    nodes = []
    for record in _records(text):
        nodes.append(
            Node(
                name=record["NodeName"],
                state=record.get("State", "unknown").split("+")[0].lower(),
                gpus=parse_gres(record.get("Gres", "")),
                cpus=_number(record.get("CPUTot", "")) or 0,
                memory_mb=_number(record.get("RealMemory", "")) or 0,
                address=record.get("NodeAddr", record["NodeName"]),
                gpus_used=_gpus_allocated(record.get("AllocTRES", "")),
            )
        )
    return nodes


def parse_gres(text: str) -> dict[str, int]:
    """Parses a GRES list such as ``gpu:a100:2,gpu:v100:1(S:0)`` into GPUs per type."""
    gpus: dict[str, int] = {}
    for item in text.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] != "gpu" or len(parts) < 2:
            continue
        kind = parts[1] if len(parts) == 3 else "gpu"
        count = _number(parts[-1]) or 0
        gpus[kind.lower()] = gpus.get(kind.lower(), 0) + count
    return gpus


def _gpus_allocated(tres: str) -> int:
    """Reads ``gres/gpu=N`` out of a node's ``AllocTRES`` (``cpu=1,gres/gpu=2``)."""
    for item in tres.split(","):
        key, _, value = item.partition("=")
        if key == "gres/gpu":
            return _number(value) or 0
    return 0


def parse_minutes(text: str) -> int | None:
    """Parses a Slurm time limit (``2:00:00``, ``1-00:00:00``, ``30``) into minutes."""
    if text.upper() in _UNLIMITED:
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # days-hours[:minutes[:seconds]]
        parts += [0] * (3 - len(parts))
    elif len(parts) == 1:  # minutes
        parts = [0, parts[0], 0]
    elif len(parts) == 2:  # minutes:seconds
        parts = [0, *parts]
    hours, mins, secs = parts
    minutes = hours * 60 + mins + (1 if secs else 0)
    return minutes + int(days or 0) * 24 * 60


def format_minutes(minutes: int) -> str:
    """Formats minutes the way Slurm does: ``2:00:00`` or ``1-12:00:00``."""
    days, rest = divmod(minutes, 24 * 60)
    clock = f"{rest // 60}:{rest % 60:02d}:00"
    return f"{days}-{clock}" if days else clock


def _records(text: str) -> list[dict[str, str]]:
    return [dict(_PAIR.findall(line)) for line in text.splitlines() if "=" in line]


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None
