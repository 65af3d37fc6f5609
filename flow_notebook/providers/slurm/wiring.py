"""Builds a ``SlurmProvider`` from the configuration: over SSH, or on the login node."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flow_notebook.core.config import FlowConfig, configured_run_limit
from flow_notebook.providers.mithril.domain.caches import TtlCache
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.remote import HostKeyStore
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer
from flow_notebook.providers.slurm.cluster import ClusterInfo
from flow_notebook.providers.slurm.code import ICodeShip, LocalCodeShip, RsyncCodeShip
from flow_notebook.providers.slurm.jobs import JobService
from flow_notebook.providers.slurm.layout import DONE_MARKER, LOG_FILES, TaskLayout
from flow_notebook.providers.slurm.login import ILogin, LocalLogin, SSHLogin
from flow_notebook.providers.slurm.provider import SlurmProvider
from flow_notebook.providers.slurm.records import RecordStore
from flow_notebook.providers.slurm.remote import SlurmRemoteOperations, TaskDirLogin
from flow_notebook.providers.slurm.settings import SlurmSettings
from flow_notebook.providers.slurm.submission import Submitter
from flow_notebook.providers.slurm.tasks import TaskTracker
from flow_notebook.providers.slurm.transfer import LocalTransfer, SftpTransfer
from flow_notebook.providers.slurm.volumes import IFileTransfer, SlurmVolumes

_CALLER = "slurm"


def build(config: FlowConfig, environ: Mapping[str, str] | None = None) -> SlurmProvider:
    """Wires the provider's services for ``config`` (see ``settings`` for the keys).

    Args:
        config: The configuration.
        environ: Environment with the ``FLOW_SLURM_*`` variables (default ``os.environ``).
    """
    settings = SlurmSettings.from_config(config, environ)
    exclude = [config.home]
    login: ILogin
    transfer: IFileTransfer
    code: ICodeShip
    closers: tuple[Callable[[], None], ...] = ()
    shell_line = None
    if settings.over_ssh:
        ssh = SSHLogin.from_settings(settings, HostKeyStore.under_home(config.home))
        multiplexer = SSHMultiplexer()
        login, transfer, shell_line = ssh, SftpTransfer(ssh), ssh.shell_command
        code = RsyncCodeShip(ssh, multiplexer, exclude)
        closers = (ssh.close, multiplexer.close)
    else:
        login, transfer, code = LocalLogin(), LocalTransfer(), LocalCodeShip(exclude)

    def run(command: str) -> str:
        return login.execute_command(_CALLER, command, 60)

    root = RootDirectory(settings.root, run)
    records = RecordStore(config.home / "slurm" / "tasks")
    jobs = JobService(login)
    tracker = TaskTracker(records, jobs, run)

    def layout_of(task_id: str) -> TaskLayout:
        record = records.get(task_id)
        return TaskLayout(record.task_dir, record.work_dir)

    logs = LogService(
        TaskDirLogin(login, layout_of),
        lambda task_id: tracker.task(records.get(task_id)).status,
        TtlCache(60.0, 64),
        log_files=LOG_FILES,
        done_marker=DONE_MARKER,
    )
    return SlurmProvider(
        settings,
        cluster=ClusterInfo(run),
        jobs=jobs,
        records=records,
        tracker=tracker,
        submitter=Submitter(login, jobs, records, code, root),
        logs=logs,
        remote_ops=SlurmRemoteOperations(login, layout_of, shell_line),
        code=code,
        volumes=SlurmVolumes(login, root, transfer),
        default_max_run_hours=configured_run_limit(config),
        closers=closers,
    )


class RootDirectory:
    """The Slurm root directory as an absolute path; ``~`` resolved on the login node once.

    Args:
        configured: The configured root (may start with ``~``).
        run: Runs a command on the login node.
    """

    def __init__(self, configured: str, run: Callable[[str], str]) -> None:
        self._configured = configured
        self._run = run
        self._resolved: str | None = None

    def __call__(self) -> str:
        """Returns the absolute root directory."""
        if self._resolved is None:
            path = self._configured
            if path.startswith("~"):
                home = self._run('printf %s "$HOME"').strip()
                path = home + path[1:]
            self._resolved = path.rstrip("/") or "/"
        return self._resolved
