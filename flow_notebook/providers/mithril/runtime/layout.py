"""Instance paths as the startup script sees them, optionally moved under a root.

On an instance the root is empty and every path is the one in ``paths``. Tests pass
a temporary directory as the root so a generated script can run on this machine
without touching ``/var/log``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from flow_notebook.providers.mithril.runtime import paths

RANK_FILE = f"{paths.LOG_DIR}/rank.env"
"""Written over SSH by the provider on multi-instance tasks; see ``render_rank_file``."""
RUNNER_SCRIPT = f"{paths.LOG_DIR}/run_task.sh"
"""The task runner the startup script writes (mode 0700) and starts detached."""
RUNNER_LOG = f"{paths.LOG_DIR}/runner.log"
"""Output of the runner itself (not of the task), for diagnosing setup failures."""
USER_SCRIPT = f"{paths.LOG_DIR}/user_script"
SECRETS_FILE = f"{paths.LOG_DIR}/secrets.env"
"""The task's secrets, written over SSH after boot (mode 0600); never in the bid."""
"""Where a ``TaskConfig.script`` body is written before it runs."""


@dataclass(frozen=True)
class RuntimeLayout:
    """Maps instance paths to where the script really uses them.

    Attributes:
        root: Directory prepended to every absolute instance path; empty on an instance.
        ssh_user: The user the provider logs in as; it must be able to write the log
            directory (rank file, deferred script, markers) and the code directory.
    """

    root: str = ""
    ssh_user: str = paths.DEFAULT_SSH_USER

    def grant_command(self, path: str) -> str:
        """Returns shell that creates ``path`` and hands it to ``ssh_user`` (never fails).

        Startup scripts run as root while the provider writes over SSH as ``ssh_user``.
        """
        quoted = shlex.quote(path)
        user = shlex.quote(self.ssh_user)
        return f"mkdir -p {quoted} && {{ chown {user} {quoted} 2>/dev/null || true; }}"

    def at(self, instance_path: str) -> str:
        """Returns where ``instance_path`` lives under this layout's root."""
        if not self.root:
            return instance_path
        return self.root.rstrip("/") + "/" + instance_path.lstrip("/")

    @property
    def log_dir(self) -> str:
        """Directory of the logs and markers."""
        return self.at(paths.LOG_DIR)

    @property
    def stdout_log(self) -> str:
        """The task's stdout log."""
        return self.at(paths.STDOUT_LOG)

    @property
    def stderr_log(self) -> str:
        """The task's stderr log."""
        return self.at(paths.STDERR_LOG)

    @property
    def exit_code_file(self) -> str:
        """File holding the task's exit code once it ends."""
        return self.at(paths.EXIT_CODE_FILE)

    @property
    def started_marker(self) -> str:
        """Marker created when the task's command starts."""
        return self.at(paths.STARTED_MARKER)

    @property
    def done_marker(self) -> str:
        """Marker created after the exit code is written."""
        return self.at(paths.DONE_MARKER)

    @property
    def code_ready_marker(self) -> str:
        """Marker the code uploader creates once the code is in place."""
        return self.at(paths.CODE_READY_MARKER)

    @property
    def deferred_script(self) -> str:
        """Where a deferred startup script body is uploaded."""
        return self.at(paths.DEFERRED_SCRIPT)

    @property
    def deferred_ready_marker(self) -> str:
        """Marker created after the deferred script is fully uploaded."""
        return self.at(paths.DEFERRED_READY_MARKER)

    @property
    def volume_root(self) -> str:
        """Directory under which attached volumes appear by id."""
        return self.at(paths.VOLUME_ROOT)

    @property
    def runner_pid_file(self) -> str:
        """PID of the runner, the leader of the workload's process group."""
        return self.at(paths.RUNNER_PID_FILE)

    @property
    def node_rank_file(self) -> str:
        """This node's rank, written by the runner once known."""
        return self.at(paths.NODE_RANK_FILE)

    @property
    def phase_file(self) -> str:
        """The step the runner is in before the command starts, while it lasts."""
        return self.at(paths.PHASE_FILE)

    @property
    def kernel_seen_file(self) -> str:
        """Touched by each status read of a kernel (see ``paths.KERNEL_SEEN``)."""
        return self.at(paths.KERNEL_SEEN)

    @property
    def pull_log(self) -> str:
        """Output of the image pull."""
        return self.at(paths.PULL_LOG)

    @property
    def watcher_log(self) -> str:
        """The on-instance watcher's progress log."""
        return self.at(paths.WATCHER_LOG)

    @property
    def watch_dir(self) -> str:
        """Root-only directory of the watcher and its settings."""
        return self.at(paths.WATCH_DIR)

    @property
    def secrets_file(self) -> str:
        """File the provider writes the task's secrets into after boot."""
        return self.at(SECRETS_FILE)

    @property
    def rank_file(self) -> str:
        """File carrying this instance's rank on multi-instance tasks."""
        return self.at(RANK_FILE)

    @property
    def runner_script(self) -> str:
        """The task runner script."""
        return self.at(RUNNER_SCRIPT)

    @property
    def runner_log(self) -> str:
        """The runner's own output."""
        return self.at(RUNNER_LOG)

    @property
    def user_script(self) -> str:
        """Where a script body is written before it runs."""
        return self.at(USER_SCRIPT)


def render_rank_file(rank: int, num_nodes: int, main_ip: str) -> str:
    """Returns the rank file body the provider uploads to each instance.

    The provider writes it atomically (temporary name, then rename) to ``RANK_FILE``
    once every instance of the bid has a private IP. Rank is the instance's position
    in the bid's ``instances`` list; ``main_ip`` is the private IP of rank 0.

    Args:
        rank: This instance's rank, from 0.
        num_nodes: Number of instances in the task.
        main_ip: Private IP of the rank-0 instance.

    Returns:
        ``KEY=value`` lines read by the startup script (never sourced).

    Raises:
        ValueError: A value that could not be read back safely.
    """
    if not 0 <= rank < num_nodes:
        raise ValueError(f"rank {rank} is outside 0..{num_nodes - 1}")
    if not main_ip or any(ch.isspace() or ch == "=" for ch in main_ip):
        raise ValueError(f"not an IP address: {main_ip!r}")
    return f"FLOW_NODE_RANK={rank}\nFLOW_NUM_NODES={num_nodes}\nFLOW_MAIN_IP={main_ip}\n"
