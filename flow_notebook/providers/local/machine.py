"""Describes this machine: CPU cores, memory and NVIDIA GPUs (via ``nvidia-smi``).

The local provider runs everything here, so "instance types" are just a name for
this machine: ``<n>x<gpu>`` (e.g. ``2xa100``) when it has GPUs, else ``cpu-<cores>``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flow_notebook.core.contracts import check_requirements
from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import AvailableInstance

_GPU_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
_VENDOR_WORDS = frozenset({"nvidia", "tesla", "geforce", "quadro"})


@dataclass(frozen=True)
class GpuInfo:
    """One GPU.

    Attributes:
        name: Full name as the driver reports it.
        memory_mb: Memory in MiB.
    """

    name: str
    memory_mb: int

    @property
    def short_name(self) -> str:
        """A short lowercase model name, e.g. ``h100`` for ``NVIDIA H100 80GB HBM3``."""
        words = [w for w in re.split(r"[\s-]+", self.name.lower()) if w not in _VENDOR_WORDS]
        for word in words:
            if re.match(r"^[a-z]+\d+[a-z]*$", word):
                return word
        return re.sub(r"[^a-z0-9]+", "-", " ".join(words)).strip("-") or "gpu"


@dataclass(frozen=True)
class MachineFacts:
    """This machine's resources.

    Attributes:
        cpu_cores: Logical CPU cores.
        memory_gb: Total memory in GB (rounded down).
        gpus: The GPUs, possibly none.
    """

    cpu_cores: int
    memory_gb: int
    gpus: tuple[GpuInfo, ...] = ()

    @property
    def instance_type(self) -> str:
        """The name of this machine as an instance type."""
        if self.gpus:
            return f"{len(self.gpus)}x{self.gpus[0].short_name}"
        return f"cpu-{self.cpu_cores}"


def run_quietly(argv: list[str]) -> str | None:
    """Runs ``argv`` and returns its stdout, or ``None`` when it is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


class MachineProbe:
    """Finds this machine's facts once and remembers them.

    Args:
        run: Runs a command and returns its stdout or ``None`` (``nvidia-smi`` goes here).
        meminfo: Path of ``/proc/meminfo``.
        cpu_count: Returns the number of logical cores.
    """

    def __init__(
        self,
        run: Callable[[list[str]], str | None] = run_quietly,
        meminfo: Path = Path("/proc/meminfo"),
        cpu_count: Callable[[], int | None] = os.cpu_count,
    ) -> None:
        self._run = run
        self._meminfo = meminfo
        self._cpu_count = cpu_count
        self._facts: MachineFacts | None = None

    def describe(self) -> MachineFacts:
        """Returns this machine's facts (probed on the first call)."""
        if self._facts is None:
            self._facts = MachineFacts(
                cpu_cores=self._cpu_count() or 1,
                memory_gb=self._memory_gb(),
                gpus=tuple(self._gpus()),
            )
        return self._facts

    def _memory_gb(self) -> int:
        try:
            text = self._meminfo.read_text()
        except OSError:
            return 0
        match = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, re.MULTILINE)
        return int(match.group(1)) // (1024 * 1024) if match else 0

    def _gpus(self) -> list[GpuInfo]:
        output = self._run(_GPU_QUERY)
        gpus = []
        for line in (output or "").splitlines():
            name, _, memory = line.rpartition(",")
            digits = re.search(r"\d+", memory)
            if name.strip():
                gpus.append(
                    GpuInfo(name=name.strip(), memory_mb=int(digits.group()) if digits else 0)
                )
        return gpus


_COUNT_FIRST = re.compile(r"^(\d+)\s*x\s*(.+)$")
_COUNT_LAST = re.compile(r"^(.+?)\s*x\s*(\d+)$")
_CPU_SPEC = re.compile(r"^cpu(-\d+)?$")


def parse_gpu_spec(spec: str) -> tuple[int, str]:
    """Splits ``8xh100``, ``h100x8`` or ``a100`` into ``(count, model)``; count 1 by default."""
    text = spec.strip().lower()
    if match := _COUNT_FIRST.match(text):
        return int(match.group(1)), match.group(2).strip()
    if match := _COUNT_LAST.match(text):
        return int(match.group(2)), match.group(1).strip()
    return 1, text


def match_spec(facts: MachineFacts, spec: str) -> str:
    """Returns this machine's instance type when it can honour ``spec``.

    ``cpu``/``cpu-N`` and this machine's own type always match; a GPU spec matches
    when this machine has at least that many GPUs of that model.

    Raises:
        ValidationError: One line naming what this machine has.
    """
    text = spec.strip().lower()
    if _CPU_SPEC.match(text) or text == facts.instance_type:
        return facts.instance_type
    count, model = parse_gpu_spec(text)
    names = {gpu.short_name for gpu in facts.gpus}
    if model in names and 0 < count <= len(facts.gpus):
        return facts.instance_type
    have = f"{facts.instance_type} (no GPU)" if not facts.gpus else facts.instance_type
    raise ValidationError(
        f"this machine has {have}: the local provider cannot run --gpu {spec.strip()}",
        field="instance_type",
        suggestion="drop --gpu to run here, or use a provider with that GPU (%flow use mithril)",
    )


def normalize_request(
    facts: MachineFacts, gpu_count: int, gpu_type: str | None
) -> tuple[str, int, str | None]:
    """Maps a GPU request onto this machine: ``(instance_type, 1, warning or None)``.

    A request this machine cannot meet still runs here; the warning says how it differs.
    """
    asked = f"{gpu_count}x{gpu_type or 'gpu'}"
    warning = None
    if gpu_count > 0 and not facts.gpus:
        warning = f"this machine has no GPU: {asked} runs on CPU ({facts.instance_type})"
    elif gpu_count > len(facts.gpus):
        warning = f"this machine has {len(facts.gpus)} GPUs, fewer than {asked}"
    elif gpu_type and facts.gpus and gpu_type.lower() != facts.gpus[0].short_name:
        warning = f"this machine has {facts.instance_type}, not {gpu_type}"
    return facts.instance_type, 1, warning


def offers(facts: MachineFacts, requirements: dict[str, Any]) -> list[AvailableInstance]:
    """Returns this machine as the one free offer when it meets every requirement.

    Raises:
        ValidationError: A requirement key no provider knows.
    """
    check_requirements(requirements)
    offer = AvailableInstance(
        allocation_id="local",
        instance_type=facts.instance_type,
        region="local",
        price_per_hour=0.0,
        gpu_type=facts.gpus[0].short_name if facts.gpus else "",
        gpu_count=len(facts.gpus),
        cpu_cores=facts.cpu_cores,
        memory_gb=facts.memory_gb,
        available_quantity=1,
    )
    return [offer] if _meets(facts, offer, requirements) else []


def _meets(facts: MachineFacts, offer: AvailableInstance, requirements: dict[str, Any]) -> bool:
    gpu_type, region = requirements.get("gpu_type"), requirements.get("region")
    max_price, wanted_type = requirements.get("max_price"), requirements.get("instance_type")
    try:
        fits_type = not wanted_type or match_spec(facts, str(wanted_type)) == facts.instance_type
    except ValidationError:
        fits_type = False
    return (
        fits_type
        and int(requirements.get("gpu_count") or 0) <= offer.gpu_count
        and (not gpu_type or str(gpu_type).lower() == offer.gpu_type)
        and (not region or region == offer.region)
        and (max_price is None or offer.price_per_hour <= float(max_price))
    )
