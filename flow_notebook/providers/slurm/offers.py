"""Turning a GPU request into a partition, GRES and node count, and listing offers.

Instance types on Slurm are ``<K>x<gpu type>`` per node (``2xa100``) or ``cpu``; the
partition plays the part of the region. A spec may name the partition first:
``gpu:2xa100``. Every refusal is one line naming what the cluster has.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import AvailableInstance
from flow_notebook.providers.slurm.cluster import Partition, format_minutes

CPU_ONLY = "cpu"
_SPEC = re.compile(r"^(?:(?P<count>\d+)\s*x\s*)?(?P<kind>[a-z0-9_.-]+)$")


@dataclass(frozen=True)
class JobShape:
    """What one task asks Slurm for.

    Attributes:
        partition: The partition.
        gpu_type: GPU type (GRES type), ``None`` for CPU only.
        gpus_per_node: GPUs per node.
        nodes: Number of nodes.
        time_minutes: ``--time`` in minutes, ``None`` for the partition's default.
    """

    partition: str
    gpu_type: str | None
    gpus_per_node: int
    nodes: int
    time_minutes: int | None

    @property
    def instance_type(self) -> str:
        """The instance type name: ``2xa100`` or ``cpu``."""
        return f"{self.gpus_per_node}x{self.gpu_type}" if self.gpu_type else CPU_ONLY

    def sbatch_options(self) -> list[str]:
        """Returns the sbatch options for this shape."""
        options = [
            f"--partition={self.partition}",
            f"--nodes={self.nodes}",
            "--ntasks-per-node=1",
        ]
        if self.gpu_type:
            options.append(f"--gres=gpu:{self.gpu_type}:{self.gpus_per_node}")
        if self.time_minutes is not None:
            options.append(f"--time={self.time_minutes}")
        return options


def split_spec(spec: str) -> tuple[str | None, str]:
    """Splits ``gpu:2xa100`` into the partition (or ``None``) and ``2xa100``."""
    partition, _, rest = spec.strip().lower().rpartition(":")
    return (partition or None), rest


def parse_type(spec: str) -> tuple[str | None, int]:
    """Parses ``2xa100`` into ``("a100", 2)``; ``a100`` is one GPU; ``cpu`` is no GPU.

    Raises:
        ValidationError: Not of that form.
    """
    match = _SPEC.match(spec.strip().lower())
    if not match:
        raise ValidationError(
            f"cannot read the GPU spec {spec!r}", suggestion="write e.g. a100, 2xa100 or gpu:2xa100"
        )
    kind, count = match.group("kind"), int(match.group("count") or 1)
    if kind == CPU_ONLY:
        return None, 0
    if count < 1:
        raise ValidationError(f"a GPU count must be at least 1, not {count}")
    return kind, count


class OfferCatalog:
    """Matches requests against the partitions.

    Args:
        partitions: The cluster's partitions, default first.
        default_partition: The configured partition, or ``None`` for the cluster's.
    """

    def __init__(self, partitions: list[Partition], default_partition: str | None) -> None:
        self._partitions = partitions
        self._default = default_partition

    def shape(
        self,
        spec: str | None,
        nodes: int,
        partition: str | None = None,
        hours: float | None = None,
    ) -> JobShape:
        """Returns the job shape for an instance type spec on ``nodes`` nodes.

        Args:
            spec: ``a100``, ``2xa100``, ``gpu:2xa100``, ``cpu`` or ``None`` (no GPU).
            nodes: Number of nodes.
            partition: The partition asked for (``--region``), else the spec's, the
                configured one, or the first that has the GPU.
            hours: The run-time limit, if any.

        Raises:
            ValidationError: Unknown partition or GPU type, too many GPUs per node,
                too many nodes, or a time over the partition's limit (one line each).
        """
        named, type_text = split_spec(spec or CPU_ONLY)
        gpu_type, per_node = parse_type(type_text)
        chosen = self._partition(partition or named or self._default, gpu_type)
        self._check_gpus(chosen, gpu_type, per_node)
        self._check_nodes(chosen, gpu_type, per_node, nodes)
        minutes = None if hours is None else max(1, math.ceil(hours * 60))
        if minutes is not None and chosen.max_time_minutes and minutes > chosen.max_time_minutes:
            raise ValidationError(
                f"--max-run-time {format_minutes(minutes)} is over partition {chosen.name}'s"
                f" limit of {chosen.max_time_text()}",
                field="max_run_time_hours",
            )
        return JobShape(chosen.name, gpu_type, per_node if gpu_type else 0, nodes, minutes)

    def offers(self, requirements: dict[str, object] | None = None) -> list[AvailableInstance]:
        """Returns one offer per partition and GPU type (and CPU-only partitions)."""
        found = []
        wanted = str((requirements or {}).get("gpu_type") or "").lower() or None
        for part in self._partitions:
            kinds = part.gpu_types() or {"": 0}
            for kind, count in kinds.items():
                if wanted and kind != wanted:
                    continue
                nodes = part.nodes_with(kind or None, count)
                found.append(
                    AvailableInstance(
                        allocation_id=f"{part.name}:{kind or CPU_ONLY}",
                        instance_type=f"{count}x{kind}" if kind else CPU_ONLY,
                        region=part.name,
                        price_per_hour=0.0,
                        gpu_type=kind,
                        gpu_count=count,
                        cpu_cores=min((n.cpus for n in nodes), default=0),
                        memory_gb=min((n.memory_mb for n in nodes), default=0) // 1024,
                        available_quantity=sum(1 for n in nodes if n.fits(kind or None, count)),
                        status=(
                            f"{'up' if part.up else 'down'}, {len(nodes)} nodes,"
                            f" max {part.max_time_text()}"
                        ),
                    )
                )
        return found

    def _partition(self, name: str | None, gpu_type: str | None) -> Partition:
        by_name = {part.name: part for part in self._partitions}
        if name:
            if name not in by_name:
                raise ValidationError(
                    f"unknown partition {name!r}; the cluster has: {', '.join(by_name) or 'none'}",
                    field="region",
                )
            return by_name[name]
        if gpu_type is None:
            return self._partitions[0]
        for part in self._partitions:
            if gpu_type in part.gpu_types():
                return part
        raise ValidationError(
            f"no partition has GPU type {gpu_type!r}; the cluster has: {self._gpu_listing()}",
            field="instance_type",
        )

    def _check_gpus(self, part: Partition, gpu_type: str | None, per_node: int) -> None:
        if gpu_type is None:
            return
        kinds = part.gpu_types()
        if gpu_type not in kinds:
            raise ValidationError(
                f"partition {part.name} has no GPU type {gpu_type!r}; the cluster has:"
                f" {self._gpu_listing()}",
                field="instance_type",
            )
        if per_node > kinds[gpu_type]:
            raise ValidationError(
                f"{per_node}x{gpu_type} asks for more GPUs than a node of partition {part.name}"
                f" has ({kinds[gpu_type]}x{gpu_type})",
                field="instance_type",
            )

    def _check_nodes(
        self, part: Partition, gpu_type: str | None, per_node: int, nodes: int
    ) -> None:
        fitting = len(part.nodes_with(gpu_type, per_node))
        limit = min(fitting, part.max_nodes or fitting)
        if nodes > limit:
            raise ValidationError(
                f"{nodes} instances asked for, partition {part.name} has {limit} nodes that fit",
                field="num_instances",
            )

    def _gpu_listing(self) -> str:
        listed = [
            f"{count}x{kind} ({part.name})"
            for part in self._partitions
            for kind, count in part.gpu_types().items()
        ]
        return ", ".join(listed) or "no GPUs"
