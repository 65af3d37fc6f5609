"""The stable provider API: what every provider implements and callers rely on.

``IProvider`` is the contract between the notebook layer and any provider. Its
methods and signatures follow the provider-refactor design's "Public API Surface".
Provider-specific capabilities live in optional extension Protocols at the end of
this module; callers discover them with ``isinstance(provider, IPausable)`` and the
like, never by checking a provider's concrete type.

Every method raises only subclasses of ``flow_notebook.core.errors.FlowError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from flow_notebook.core.models import (
    AvailableInstance,
    Instance,
    PricePoint,
    ProviderCapabilities,
    Task,
    TaskConfig,
    TaskStatus,
    Tunnel,
    User,
    Volume,
)
from flow_notebook.core.reservations import (
    ExtensionQuote,
    Reservation,
    ReservationEvent,
    ReservationQuote,
    ReservationRequest,
)


@runtime_checkable
class IRemoteOperations(Protocol):
    """Runs commands and moves files on a task's instance."""

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs a shell command on the task's first instance.

        Args:
            task_id: The task whose instance runs the command.
            command: A shell command line.
            timeout: Seconds to wait before giving up; ``None`` waits.

        Returns:
            The command's standard output.

        Raises:
            RemoteOperationError: The command failed or could not be run.
        """
        ...

    def retrieve_file(self, task_id: str, remote_path: str) -> bytes:
        """Returns the content of a file on the task's first instance."""
        ...

    def open_shell(self, task_id: str, command: str | None = None) -> None:
        """Opens an interactive shell (or runs ``command``) on the task's instance."""
        ...


@runtime_checkable
class IProviderInit(Protocol):
    """What a setup form needs to configure a provider interactively."""

    def list_projects(self) -> list[dict[str, Any]]:
        """Returns the projects the credentials can use, as ``{"id", "name"}`` dicts."""
        ...

    def list_ssh_keys(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """Returns the SSH keys known to the provider, as ``{"id", "name"}`` dicts."""
        ...

    def get_config_fields(self) -> dict[str, dict[str, Any]]:
        """Returns the configuration fields with their descriptions and whether secret."""
        ...

    def validate_config(self, config: dict[str, Any]) -> list[str]:
        """Returns the problems with ``config``; an empty list means it is usable."""
        ...


@runtime_checkable
class IComputeProvider(Protocol):
    """Submits and manages tasks."""

    def normalize_instance_request(
        self, gpu_count: int, gpu_type: str | None = None
    ) -> tuple[str, int, str | None]:
        """Turns a GPU request into ``(instance_type, num_instances, warning)``."""
        ...

    def find_instances(
        self, requirements: dict[str, Any], limit: int = 10
    ) -> list[AvailableInstance]:
        """Returns offers matching ``requirements``, cheapest first."""
        ...

    def submit_task(
        self,
        instance_type: str,
        config: TaskConfig,
        volume_ids: list[str] | None = None,
        allow_partial_fulfillment: bool = False,
        chunk_size: int | None = None,
    ) -> Task:
        """Starts a task. Never submits twice for one call, even across retries."""
        ...

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        """Returns ``config`` with provider defaults filled in; validates it."""
        ...

    def get_task(self, task_id: str) -> Task:
        """Returns the task. Raises ``TaskNotFoundError`` for an unknown id."""
        ...

    def get_task_status(self, task_id: str) -> TaskStatus:
        """Returns the task's current status, as ``get_task(task_id).status`` would.

        May block on the provider (an API call, or a remote read of the exit code).

        Raises:
            TaskNotFoundError: Unknown task id.
        """
        ...

    def stop_task(self, task_id: str) -> bool:
        """Stops the task; ``False`` when it had already ended. Idempotent."""
        ...

    def cancel_task(self, task_id: str) -> bool:
        """Alias of ``stop_task``."""
        ...

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines of the task's ``stdout`` or ``stderr``."""
        ...

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        """Yields log lines as they are written; ends by itself when the task ends."""
        ...

    def list_tasks(
        self,
        status: TaskStatus | None = None,
        limit: int = 100,
        force_refresh: bool = False,
    ) -> list[Task]:
        """Returns up to ``limit`` tasks, newest first, optionally of one status."""
        ...

    def get_task_instances(self, task_id: str) -> list[Instance]:
        """Returns the task's instances in rank order (rank 0 first).

        May be empty before the provider has allocated any; an ended task may still
        list instances that are no longer reachable.

        Raises:
            TaskNotFoundError: Unknown task id.
        """
        ...


@runtime_checkable
class IStorageProvider(Protocol):
    """Creates volumes and moves data in and out of them."""

    def create_volume(
        self, size_gb: int, name: str | None = None, interface: str = "block"
    ) -> Volume:
        """Creates a volume of ``size_gb`` GB."""
        ...

    def delete_volume(self, volume_id: str) -> bool:
        """Deletes a volume; ``False`` when it did not exist."""
        ...

    def list_volumes(self, limit: int = 100) -> list[Volume]:
        """Returns up to ``limit`` volumes."""
        ...

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None = None) -> bool:
        """Copies a local file into the volume."""
        ...

    def upload_directory(
        self, volume_id: str, local_path: Path, remote_path: str | None = None
    ) -> bool:
        """Copies a local directory tree into the volume."""
        ...

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume."""
        ...

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a directory tree out of the volume."""
        ...

    def is_volume_id(self, identifier: str) -> bool:
        """Whether ``identifier`` looks like this provider's volume id (not a name)."""
        ...


@runtime_checkable
class IProvider(IComputeProvider, IStorageProvider, Protocol):
    """A full provider: compute, storage and the cross-cutting operations."""

    def get_remote_operations(self) -> IRemoteOperations | None:
        """Returns the provider's remote operations, or ``None`` when it has none."""
        ...

    def resolve_instance_type(self, user_spec: str) -> str:
        """Turns a user's spec such as ``h100`` or ``8xa100`` into a provider type."""
        ...

    def get_user(self, user_id: str) -> User:
        """Returns the user with ``user_id``; ``"me"`` means the caller.

        Raises:
            NotFoundError: No user with this id is visible to the caller.
        """
        ...

    def get_capabilities(self) -> ProviderCapabilities:
        """Returns what the provider can do."""
        ...


# --- Optional extensions, discovered with isinstance() --------------------------------


@runtime_checkable
class IShellCommand(Protocol):
    """Extension of remote operations: the ``ssh`` command line that logs in to a task."""

    def shell_command(self, task_id: str, command: str | None = None) -> str:
        """Returns an ``ssh`` command that works as pasted into a terminal.

        It names the login key (``-i``), the port and the trusted host-key file.

        Raises:
            TaskStateError: The task has no instance reachable over SSH yet.
        """
        ...


@runtime_checkable
class IActiveTasks(Protocol):
    """Extension: lists only the tasks that have not ended."""

    def list_active_tasks(self, limit: int = 100) -> list[Task]:
        """Returns up to ``limit`` tasks that are not in a terminal state."""
        ...


@runtime_checkable
class IResumableLogs(Protocol):
    """Extension: follow a log from a given line, so a reattached view loses nothing."""

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        """Yields lines from line ``start_line`` (0-based) on; ends when the task ends.

        Resuming with ``start_line`` equal to the number of lines already seen yields
        every later line exactly once: no line is lost or repeated.
        """
        ...


class LogChunk(NamedTuple):
    r"""Output of a task as it arrived: raw text of one log, in the order written.

    Attributes:
        log_type: ``stdout`` or ``stderr``.
        text: The text; may end in the middle of a line and may hold ``\r`` or ANSI codes.
    """

    log_type: str
    text: str


@runtime_checkable
class ILogStream(Protocol):
    """An open, closable follow of a task's logs (what ``ILogStreams`` returns).

    One thread reads; any thread may close. Nothing is polled by the caller: ``read``
    blocks until output arrives, the timeout passes, the task ends or ``close`` is called.
    """

    def read(self, timeout: float) -> list[LogChunk] | None:
        """Waits up to ``timeout`` seconds for output.

        Returns:
            The chunks that arrived (empty when the timeout passed first), or ``None``
            once the task ended and everything was read, or the stream was closed.

        Raises:
            FlowError: The logs cannot be read (e.g. the instance is unreachable).
        """
        ...

    def close(self) -> None:
        """Ends the stream: a ``read`` blocked in another thread returns ``None`` within 100 ms.

        Idempotent; never waits on the network.
        """
        ...


@runtime_checkable
class ILogStreams(Protocol):
    """Extension: follow several logs of a task at once through one closable stream."""

    def open_log_stream(
        self,
        task_id: str,
        start: Mapping[str, int] | None = None,
        log_types: Sequence[str] = ("stdout", "stderr"),
    ) -> ILogStream:
        """Opens a follow of ``log_types`` from line ``start[log_type]`` (0-based) on.

        Chunks of different logs come in the order they were read, so stdout and
        stderr stay interleaved as written (to the provider's read granularity).
        Resuming with ``start`` equal to the complete lines already seen loses and
        repeats nothing.

        Raises:
            TaskNotFoundError: Unknown task id.
            ValidationError: Unknown log type or a negative start line.
        """
        ...


@runtime_checkable
class IPausable(Protocol):
    """Extension: tasks can be paused and resumed. Both calls are idempotent."""

    def pause_task(self, task_id: str) -> bool:
        """Pauses the task; ``False`` when it was already paused."""
        ...

    def resume_task(self, task_id: str) -> bool:
        """Resumes the task; ``False`` when it was not paused."""
        ...


@runtime_checkable
class IVolumeMounting(Protocol):
    """Extension: attach a volume to a task that already runs."""

    def mount_volume(self, volume_id: str, task_id: str, mount_point: str | None = None) -> None:
        """Mounts the volume on every instance of the task."""
        ...


@runtime_checkable
class IProjects(Protocol):
    """Extension: the provider groups resources in projects."""

    def get_projects(self) -> list[dict[str, Any]]:
        """Returns the projects visible to the credentials."""
        ...


@runtime_checkable
class IInstanceCatalog(Protocol):
    """Extension: the provider has a catalogue of instance types."""

    def get_instance_types(self, region: str | None = None) -> list[dict[str, Any]]:
        """Returns the instance types, optionally only those offered in ``region``."""
        ...


@runtime_checkable
class ISSHKeyManagement(Protocol):
    """Extension: SSH keys registered with the provider."""

    def get_ssh_keys(self) -> list[dict[str, Any]]:
        """Returns the registered keys (never private key material)."""
        ...

    def create_ssh_key(self, name: str, public_key: str | None = None) -> dict[str, Any]:
        """Registers a key; without ``public_key`` the provider generates a pair."""
        ...

    def delete_ssh_key(self, key_id: str) -> bool:
        """Deletes a key; ``False`` when it did not exist."""
        ...


@runtime_checkable
class IInitInterface(Protocol):
    """Extension: an interactive setup interface."""

    def get_init_interface(self) -> IProviderInit:
        """Returns the interface a setup form uses to check credentials and list choices.

        Works before the provider is fully configured (e.g. without a project), so
        the form can offer the projects the key can use. Makes no request itself.
        """
        ...


@runtime_checkable
class ISSHTunnels(Protocol):
    """Extension: forward local ports to services on instances."""

    def get_ssh_tunnel_manager(self) -> ITunnelManager:
        """Returns the provider's one ``ITunnelManager``; the same object on every call.

        Its tunnels live until closed or until the provider is closed.
        """
        ...


@runtime_checkable
class ITunnelManager(Protocol):
    """What ``ISSHTunnels.get_ssh_tunnel_manager`` returns: forwards local ports."""

    def open_tunnel(self, task_id: str, remote_port: int, local_port: int | None = None) -> Tunnel:
        """Forwards a local port to ``remote_port`` on the task's first instance.

        Args:
            task_id: The task whose instance runs the service.
            remote_port: The service's port on the instance.
            local_port: Port to listen on locally (``127.0.0.1``); ``None`` picks a free one.

        Returns:
            The open tunnel. Opening the same ``(task_id, remote_port)`` twice returns
            the tunnel already open.

        Raises:
            TaskStateError: The task is not running.
            RemoteOperationError: The forward could not be set up.
        """
        ...

    def close_tunnel(self, tunnel_id: str) -> bool:
        """Closes a tunnel; ``False`` when no such tunnel was open. Idempotent."""
        ...

    def list_tunnels(self, task_id: str | None = None) -> list[Tunnel]:
        """Returns the open tunnels, optionally only those of one task."""
        ...


@runtime_checkable
class IPriceHistory(Protocol):
    """Extension: past spot prices of an instance type (Mithril: ``/v2/pricing/history``)."""

    def get_price_history(
        self,
        instance_type: str,
        region: str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        num_samples: int = 100,
    ) -> list[PricePoint]:
        """Returns spot prices per instance-hour over time, oldest first.

        Args:
            instance_type: A display name (``8xh100``) or the provider's type id.
            region: Only this region; ``None`` returns the points of every region.
            start: Earliest time; ``None`` lets the provider choose.
            end: Latest time; ``None`` means now.
            num_samples: At most this many points per region.

        Returns:
            The points, oldest first; empty when the provider has no history for it.

        Raises:
            FlowError: The provider failed.
        """
        ...


@runtime_checkable
class IClosable(Protocol):
    """Extension: the provider holds resources (connections, threads) to release."""

    def close(self) -> None:
        """Releases every resource. Safe to call twice."""
        ...


@runtime_checkable
class ICodeSync(Protocol):
    """Extension: send local code to a task that already runs, only what changed."""

    def sync_code(self, task_id: str, local_path: Path) -> dict[str, Any]:
        """Makes the task's working directory hold the selected files of ``local_path``.

        Files are selected by ``core.code_tree`` (``.gitignore``/``.flowignore``). Only
        files whose content differs on the instance are sent; files sent by an earlier
        sync (or the initial upload) and no longer selected locally are removed; other
        files the task wrote are left alone. Calling it twice without local edits sends
        nothing the second time.

        Args:
            task_id: A task that has not ended.
            local_path: The local directory to send.

        Returns:
            At least ``files`` (files sent) and ``bytes`` (bytes sent); providers add
            ``files_total`` (files selected), ``deleted`` (files removed) and
            ``digest`` (``code_tree.tree_digest`` of what the instance now holds).

        Raises:
            TaskNotFoundError: No task has that id.
            TaskStateError: The task has ended (or has no instance yet).
            ValidationError: ``local_path`` is not a directory, or a symlink leaves it.
            RemoteOperationError: The transfer failed.
        """
        ...


@runtime_checkable
class IReservations(Protocol):
    """Extension: capacity reserved for a window at a quoted price, and tasks run on it.

    A task runs on a reservation with ``TaskConfig.reservation_id`` set: it uses the
    reservation's instances (no bid, nothing more billed) and ending it leaves them up.
    """

    def quote_reservation(self, request: ReservationRequest) -> ReservationQuote:
        """Returns the price of the window and whether its capacity is free.

        Raises:
            ValidationError: A window in the past or empty, or an unknown type or region.
        """
        ...

    def create_reservation(self, request: ReservationRequest) -> Reservation:
        """Places the reservation (never twice for one call, even across retries).

        Raises:
            ValidationError: A window in the past or empty, or not enough capacity.
        """
        ...

    def list_reservations(self, limit: int = 100) -> list[Reservation]:
        """Returns up to ``limit`` reservations with their usage, newest first."""
        ...

    def get_reservation(self, reservation_id: str) -> Reservation:
        """Returns one reservation with its usage.

        Raises:
            NotFoundError: No reservation has this id.
        """
        ...

    def quote_extension(self, reservation_id: str, new_end: datetime) -> ExtensionQuote:
        """Returns whether the end can move to ``new_end``, its cost and the new total.

        Raises:
            NotFoundError: No reservation has this id.
            ValidationError: ``new_end`` is not after the current end.
        """
        ...

    def extend_reservation(self, reservation_id: str, new_end: datetime) -> Reservation:
        """Moves the end to ``new_end``, buying the added hours.

        Raises:
            NotFoundError: No reservation has this id.
            ValidationError: ``new_end`` is not after the end, or past the latest offered.
        """
        ...

    def terminate_reservation_instances(
        self, reservation_id: str, instance_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Gives instances back early (all when ``None``); tasks on them end.

        Returns:
            The instances terminated.

        Raises:
            NotFoundError: No reservation has this id (or it has no such instance).
        """
        ...

    def reservation_history(self, reservation_id: str) -> list[ReservationEvent]:
        """Returns the reservation's events, oldest first.

        Raises:
            NotFoundError: No reservation has this id.
        """
        ...


@runtime_checkable
class ISetupProgress(Protocol):
    """Extension: after-boot setup (code upload, secrets) whose progress can be read."""

    def get_upload_status(self, task_id: str) -> dict[str, Any] | None:
        """Returns the setup progress of a task submitted by this provider, or ``None``.

        Holds at least ``phase`` (e.g. ``uploading_code``, ``ready``, ``failed``),
        ``message`` (why it failed), ``files_done``/``files_total`` and ``finished``.
        """
        ...
