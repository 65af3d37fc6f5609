"""Provider-agnostic data models shared by every provider and the notebook layer.

All models are pydantic v2 models. Inputs (``TaskConfig``, ``VolumeSpec``) validate
eagerly so that bad input fails here, with a one-line message, before any provider
is called. Secrets (``TaskConfig.secrets``) are ``SecretStr`` values: they never
appear in a repr, a ``str()`` or a JSON dump unless revealed explicitly.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_MAX_ENV_VALUE = 32_768


def utcnow() -> datetime:
    """Returns the current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class TaskStatus(str, Enum):
    """Lifecycle state of a task, the same for every provider."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    PAUSED = "paused"
    PREEMPTING = "preempting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether a task in this state will never change state again."""
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class VolumeSpec(BaseModel):
    """A volume a task mounts: an existing one by id or name, or a new one by size.

    Attributes:
        volume_id: Id of an existing volume.
        name: Name of an existing volume, or of the new one.
        size_gb: Size of a new volume, when neither id nor an existing name is given.
        mount_path: Absolute path where the volume appears on the instance.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume_id: str | None = None
    name: str | None = None
    size_gb: int | None = Field(default=None, ge=1, le=65_536)
    mount_path: str = "/data"

    @field_validator("mount_path")
    @classmethod
    def _absolute_mount_path(cls, value: str) -> str:
        if not value.startswith("/") or "\x00" in value or ".." in value.split("/"):
            raise ValueError("mount_path must be an absolute path without '..'")
        return value

    @model_validator(mode="after")
    def _identifies_a_volume(self) -> VolumeSpec:
        if not (self.volume_id or self.name or self.size_gb):
            raise ValueError("a volume needs a volume_id, a name or a size_gb")
        return self


class TaskConfig(BaseModel):
    """Everything a provider needs to run a task.

    Exactly one of ``command`` or ``script`` says what runs. ``command`` is an argv
    list (run without a shell) or a string (run by ``bash -c``); ``script`` is the
    body of a script file, run by ``interpreter``.

    Attributes:
        name: Human-readable task name (letters, digits, ``.``, ``_``, ``-``).
        command: What to run, as an argv list or a shell string.
        script: A script body to run instead of ``command``.
        interpreter: The program that runs ``script`` (``python`` or ``bash``).
        instance_type: Provider instance type, e.g. ``a100`` or ``8xh100``.
        num_instances: How many instances the task spans.
        region: Region to run in; ``None`` lets the provider choose.
        max_price_per_hour: Highest price per instance-hour, in dollars.
        image: Container image or environment name, where the provider uses one.
        env: Environment variables for the task (not secret).
        secrets: Environment variables whose values are secret; never shown.
        volumes: Volumes to create or attach.
        upload_code: Whether to send ``code_root`` to the instance.
        code_root: Local directory to send; defaults to the current directory.
        working_dir: Directory on the instance the task runs in.
        ssh_keys: Provider SSH key ids or names allowed onto the instance.
        max_run_time_hours: Stop the task after this many hours.
        max_cost: Stop the task before it can cost more than this many dollars.
        keep_alive: Keep the instances after the command ends (only a limit ends them).
        reservation_id: Run on this reservation's instances instead of new ones
            (providers with ``IReservations``); no bid, nothing more billed.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = "flow-task"
    command: list[str] | str | None = None
    script: str | None = None
    interpreter: str = "python"
    instance_type: str | None = None
    num_instances: int = Field(default=1, ge=1, le=64)
    region: str | None = None
    max_price_per_hour: float | None = Field(default=None, gt=0, le=10_000)
    image: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    upload_code: bool = False
    code_root: Path | None = None
    working_dir: str = "/workspace"
    ssh_keys: list[str] = Field(default_factory=list)
    max_run_time_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    max_cost: float | None = Field(default=None, gt=0)
    keep_alive: bool = False
    reservation_id: str | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                "name must be 1-63 letters, digits, '.', '_' or '-', starting with a letter"
                " or digit"
            )
        return value

    @field_validator("command")
    @classmethod
    def _non_empty_command(cls, value: list[str] | str | None) -> list[str] | str | None:
        if value is None:
            return None
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("command is empty")
            if "\x00" in value:
                raise ValueError("command contains a NUL byte")
            return value
        if not value or not value[0].strip():
            raise ValueError("command is empty")
        if any("\x00" in part for part in value):
            raise ValueError("command contains a NUL byte")
        return value

    @field_validator("interpreter")
    @classmethod
    def _known_interpreter(cls, value: str) -> str:
        if value not in ("python", "bash"):
            raise ValueError("interpreter must be 'python' or 'bash'")
        return value

    @field_validator("env")
    @classmethod
    def _valid_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            _check_env_pair(key, item)
        return value

    @field_validator("secrets")
    @classmethod
    def _valid_secrets(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key, item in value.items():
            _check_env_pair(key, item.get_secret_value())
        return value

    @field_validator("working_dir")
    @classmethod
    def _absolute_working_dir(cls, value: str) -> str:
        if not value.startswith("/") or "\x00" in value:
            raise ValueError("working_dir must be an absolute path")
        return value

    @field_serializer("secrets", when_used="json")
    def _mask_secrets(self, value: dict[str, SecretStr]) -> dict[str, str]:
        return {key: "**********" for key in value}

    @model_validator(mode="after")
    def _one_thing_to_run(self) -> TaskConfig:
        if self.command is None and self.script is None:
            raise ValueError("give a command or a script to run")
        if self.command is not None and self.script is not None:
            raise ValueError("give a command or a script, not both")
        if self.script is not None and not self.script.strip():
            raise ValueError("script is empty")
        return self

    def command_line(self) -> str:
        """Returns the command as one shell-quoted line, for display."""
        import shlex

        if self.script is not None:
            return f"<{self.interpreter} script, {len(self.script.splitlines())} lines>"
        if isinstance(self.command, str):
            return self.command
        return shlex.join(self.command or [])

    def secret_values(self) -> dict[str, str]:
        """Returns the secrets revealed, for the provider that injects them."""
        return {key: value.get_secret_value() for key, value in self.secrets.items()}


def _check_env_pair(key: str, value: str) -> None:
    if not _ENV_KEY_RE.match(key):
        raise ValueError(f"environment variable name {key!r} is not valid")
    if "\x00" in value:
        raise ValueError(f"environment variable {key} contains a NUL byte")
    if len(value) > _MAX_ENV_VALUE:
        raise ValueError(f"environment variable {key} is longer than {_MAX_ENV_VALUE} characters")


class Task(BaseModel):
    """A task as a provider reports it.

    Attributes:
        task_id: Provider-unique id.
        name: The task's name.
        status: Current lifecycle state.
        provider: Name of the provider that runs it.
        instance_type: Display name of the instance type, e.g. ``8xh100``.
        num_instances: Number of instances.
        region: Region it runs in, when known.
        cost_per_hour: Dollars per hour for all instances, when known.
        cost_paid: Dollars charged so far (all instances, the prices actually paid),
            when the provider knows it; ``cost_so_far`` prefers it.
        created_at: When it was submitted.
        started_at: When it started running, when known.
        completed_at: When it reached a terminal state, when known.
        exit_code: Exit code of the task's command, when known.
        message: Extra detail about the state (e.g. why it failed).
        ssh_host: Host to reach the first instance over SSH.
        ssh_port: SSH port of the first instance.
        ssh_user: SSH user of the first instance.
        instances: Ids of the task's instances.
        command: The command line that runs, for display.
        metadata: Provider-specific extra facts (never secrets).
    """

    model_config = ConfigDict(extra="forbid")

    task_id: str
    name: str
    status: TaskStatus
    provider: str
    instance_type: str = ""
    num_instances: int = 1
    region: str | None = None
    cost_per_hour: float | None = None
    cost_paid: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    exit_code: int | None = None
    message: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    instances: list[str] = Field(default_factory=list)
    command: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        """Whether the task has reached a state it will never leave."""
        return self.status.is_terminal

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """One line where a notebook shows a cell's value (``%flow run`` as last line)."""
        printer.text(f"<Task {self.task_id} ({self.name}) {self.status.value}>")

    def runtime_seconds(self, now: datetime | None = None) -> float | None:
        """Returns how long the task has run, or ``None`` before it started."""
        if self.started_at is None:
            return None
        end = self.completed_at or now or utcnow()
        return max(0.0, (end - self.started_at).total_seconds())

    def cost_so_far(self, now: datetime | None = None) -> float | None:
        """Returns dollars accrued so far, or ``None`` when the price is unknown.

        What the provider reports as charged (``cost_paid``) wins; otherwise the
        current price times the runtime.
        """
        if self.cost_paid is not None:
            return self.cost_paid
        seconds = self.runtime_seconds(now)
        if seconds is None or self.cost_per_hour is None:
            return None
        return self.cost_per_hour * seconds / 3600.0

    def ssh_command(self) -> str | None:
        """Returns the ssh command that reaches the first instance, or ``None``."""
        if not self.ssh_host:
            return None
        port = f" -p {self.ssh_port}" if self.ssh_port and self.ssh_port != 22 else ""
        user = f"{self.ssh_user}@" if self.ssh_user else ""
        return f"ssh{port} {user}{self.ssh_host}"

    def summary(self) -> str:
        """Returns one line describing the task, for plain-text output."""
        parts = [self.task_id, self.name, self.status.value]
        if self.instance_type:
            parts.append(self.instance_type)
        if self.exit_code is not None:
            parts.append(f"exit {self.exit_code}")
        return "  ".join(parts)


class Instance(BaseModel):
    """One machine (or process, for the local provider) running part of a task.

    Attributes:
        instance_id: Provider-unique id.
        task_id: The task it belongs to.
        status: Provider status string (e.g. ``STATUS_RUNNING`` or ``running``).
        instance_type: Instance type display name.
        region: Region, when known.
        ssh_host: Host to connect to over SSH, when reachable.
        ssh_port: SSH port.
        ssh_user: SSH user.
        private_ip: Address inside the task's network, when known.
        created_at: When the instance was created.
    """

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    task_id: str
    status: str
    instance_type: str = ""
    region: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    private_ip: str | None = None
    created_at: datetime | None = None


class AvailableInstance(BaseModel):
    """An offer: an instance type that can be had in a region at a price.

    Attributes:
        allocation_id: Provider id of the offer (auction id on Mithril).
        instance_type: Display name, e.g. ``8xh100``.
        region: Region of the offer.
        price_per_hour: Current price per instance-hour, in dollars.
        gpu_type: GPU model, e.g. ``h100``; empty for CPU-only.
        gpu_count: GPUs per instance.
        cpu_cores: CPU cores per instance.
        memory_gb: Memory per instance.
        available_quantity: How many instances can be had now.
        status: Offer status (``available`` or the provider's word).
        internode_interconnect: Interconnect between instances, when known.
    """

    model_config = ConfigDict(extra="forbid")

    allocation_id: str
    instance_type: str
    region: str
    price_per_hour: float
    gpu_type: str = ""
    gpu_count: int = 0
    cpu_cores: int = 0
    memory_gb: int = 0
    available_quantity: int = 0
    status: str = "available"
    internode_interconnect: str | None = None


class Volume(BaseModel):
    """Persistent storage that outlives tasks.

    Attributes:
        volume_id: Provider-unique id.
        name: Volume name.
        size_gb: Capacity in GB.
        region: Region, when the provider has regions.
        interface: ``block`` or ``file``.
        created_at: When it was created.
        attached_to: Ids of the tasks or instances it is attached to.
    """

    model_config = ConfigDict(extra="forbid")

    volume_id: str
    name: str
    size_gb: int
    region: str | None = None
    interface: str = "block"
    created_at: datetime | None = None
    attached_to: list[str] = Field(default_factory=list)


class User(BaseModel):
    """An account on the provider.

    Attributes:
        user_id: Provider-unique id.
        username: Login or display name.
        email: Email address, when known.
    """

    model_config = ConfigDict(extra="forbid")

    user_id: str
    username: str
    email: str | None = None


class ProviderCapabilities(BaseModel):
    """What a provider can do, so callers can adapt without knowing its type.

    Attributes:
        name: Provider name.
        supports_spot_instances: Whether it sells interruptible capacity.
        supports_on_demand: Whether it sells capacity that is not interrupted.
        supports_multi_node: Whether one task can span instances.
        supports_attached_storage: Whether block volumes attach to instances.
        supports_shared_storage: Whether file volumes are shared between instances.
        supports_pause: Whether tasks can be paused and resumed.
        supports_code_upload: Whether local code can be sent with a task.
        supports_ssh: Whether instances are reachable over SSH.
        supports_gpu: Whether GPUs can be had at all.
        runs_on_this_machine: Whether tasks run on the machine of the kernel, so their
            ports and files are already here (no SSH, no tunnel needed).
        max_instances_per_task: Largest ``num_instances``.
        max_storage_per_instance_gb: Largest volume size.
        supported_regions: Regions it runs in.
        requires_payment_method: Whether an account with billing is needed.
        pricing_model: ``spot``, ``on_demand`` or ``free``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    supports_spot_instances: bool = False
    supports_on_demand: bool = True
    supports_multi_node: bool = False
    supports_attached_storage: bool = False
    supports_shared_storage: bool = False
    supports_pause: bool = False
    supports_code_upload: bool = True
    supports_ssh: bool = False
    supports_gpu: bool = False
    runs_on_this_machine: bool = False
    max_instances_per_task: int = 1
    max_storage_per_instance_gb: int = 0
    supported_regions: list[str] = Field(default_factory=list)
    requires_payment_method: bool = False
    pricing_model: str = "free"


class PricePoint(BaseModel):
    """One sample of an instance type's spot price.

    Attributes:
        timestamp: When the price held.
        price_per_hour: Spot price per instance-hour, in dollars.
        instance_type: Display name of the instance type, e.g. ``8xh100``.
        region: Region of the price, when known.
    """

    model_config = ConfigDict(extra="forbid")

    timestamp: datetime
    price_per_hour: float
    instance_type: str = ""
    region: str | None = None


class Tunnel(BaseModel):
    """A local port forwarded to a port on a task's instance.

    Attributes:
        tunnel_id: Id of the tunnel within its manager.
        task_id: The task whose instance receives the traffic.
        remote_port: Port of the service on the instance.
        local_port: Port on this machine that forwards to it.
        local_host: Address the local port listens on.
    """

    model_config = ConfigDict(extra="forbid")

    tunnel_id: str
    task_id: str
    remote_port: int = Field(ge=1, le=65_535)
    local_port: int = Field(ge=1, le=65_535)
    local_host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """The local address of the forwarded service, as an ``http://`` link."""
        return f"http://{self.local_host}:{self.local_port}/"
