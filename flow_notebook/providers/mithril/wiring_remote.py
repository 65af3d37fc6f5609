"""The SSH side of the Mithril wiring: keys, connections, remote work, logs and tunnels.

Several builders here use task services (``task_queries``, ``instances``,
``layout``) that ``Wiring`` provides; they are looked up when first built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.providers.mithril.domain import code_upload as cu
from flow_notebook.providers.mithril.domain.caches import TtlCache
from flow_notebook.providers.mithril.domain.finish_watch import FinishWatcher
from flow_notebook.providers.mithril.domain.log_archive import LogArchive, TaskLogs
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.domain.ssh_keys import SSHKeyResolver
from flow_notebook.providers.mithril.domain.task_queries import ExitCodeReader
from flow_notebook.providers.mithril.remote import HostKeyStore, MithrilRemoteOperations
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer
from flow_notebook.providers.mithril.ssh_access import LazyKeyPool, SSHAccess
from flow_notebook.providers.mithril.tunnels import SSHTunnelManager
from flow_notebook.providers.mithril.wiring_base import WiringBase, provided


class RemoteWiring(WiringBase):
    """Builds everything that goes over SSH (see ``WiringBase``)."""

    # Provided by the other parts of ``Wiring``.
    api: Any
    project: str
    instances: Any
    layout: Any
    task_queries: Any

    @provided
    def exit_codes(self) -> ExitCodeReader:
        """Reads the exit code files of instances over SSH."""
        return ExitCodeReader(self.instance_ops, self.layout)

    @provided
    def finish_watcher(self) -> FinishWatcher:
        """Finds, in the background, listed tasks whose command has ended."""
        return FinishWatcher(self.exit_codes.read, self.task_queries.finish)

    @provided
    def ssh_access(self) -> SSHAccess:
        """SSH key resolution, done once, lazily."""
        ssh_dir = self.config.extra.get("ssh_dir")
        resolver = SSHKeyResolver(
            self.api, self.project, self.config, Path(ssh_dir) if ssh_dir else None
        )
        return SSHAccess(resolver)

    @provided
    def pool(self) -> LazyKeyPool:
        """One SSH connection per instance, host keys trusted per instance."""
        return LazyKeyPool(self.ssh_access.private_key_path, HostKeyStore.under_home(self._home))

    @provided
    def ssh_multiplexer(self) -> SSHMultiplexer:
        """Shared ssh connections for rsync runs (no handshake per re-sync); ended on close."""
        return SSHMultiplexer()

    @provided
    def remote_ops(self) -> MithrilRemoteOperations:
        """Remote operations on a task's first instance (keyed by task id)."""
        return MithrilRemoteOperations(
            lambda task_id: self.task_queries.endpoints(task_id),
            self.pool,  # type: ignore[arg-type]
        )

    @provided
    def instance_ops(self) -> MithrilRemoteOperations:
        """Remote operations on one instance (keyed by instance id)."""
        return MithrilRemoteOperations(self.instances.known_endpoint, self.pool)  # type: ignore[arg-type]

    @provided
    def log_archive(self) -> LogArchive:
        """Logs kept after a task's instances are gone."""
        return LogArchive(self.state_dir / "logs", self.remote_ops)

    @provided
    def logs(self) -> TaskLogs:
        """Task logs: archived or live."""
        live = LogService(self.remote_ops, self.task_queries.status, TtlCache(60.0, 64))
        return TaskLogs(live, self.log_archive, self.task_queries.status)

    @provided
    def tunnels(self) -> SSHTunnelManager:
        """Local port forwards to instances."""
        return SSHTunnelManager(self.task_queries.endpoints, self.pool)

    def code_sync(self, working_dir: str) -> cu.CodeUploadService:
        """Returns the code uploader (rsync, else SFTP) for a working directory."""
        ops = self.instance_ops
        rsync = cu.RsyncStrategy(ops, ssh_options=self.ssh_multiplexer.options)
        strategies = [rsync, cu.SftpStrategy(ops)]
        return cu.CodeUploadService(
            strategies, ops, remote_root=self.layout.at(working_dir), select=self.select_code
        )

    def select_code(self, root: Path) -> Iterator[Path]:
        """Selects the files of ``root`` to send, never those under ``FLOW_HOME``."""
        # FLOW_HOME may sit inside the code directory and holds the API key.
        return iter_code_files(root, exclude=[self._home])
