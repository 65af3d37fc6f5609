"""Paths on a Mithril instance that the startup script and the provider agree on.

The startup script writes these; the log service, the code-upload strategies and
the task service read them over SSH. Change them here only.
"""

from __future__ import annotations

LOG_DIR = "/var/log/flow"
STDOUT_LOG = f"{LOG_DIR}/stdout.log"
STDERR_LOG = f"{LOG_DIR}/stderr.log"
STARTUP_LOG = "/var/log/foundry/startup_script.log"
EXIT_CODE_FILE = f"{LOG_DIR}/exit_code"
STARTED_MARKER = f"{LOG_DIR}/started"
DONE_MARKER = f"{LOG_DIR}/done"
DEFERRED_SCRIPT = f"{LOG_DIR}/deferred_script.sh"
DEFERRED_READY_MARKER = f"{LOG_DIR}/deferred_ready"
CODE_READY_MARKER = f"{LOG_DIR}/code_ready"
RUNNER_PID_FILE = f"{LOG_DIR}/runner.pid"
"""PID (and process group) of the task runner, which the watcher stops at the deadline."""
NODE_RANK_FILE = f"{LOG_DIR}/node_rank"
"""This node's rank once known, for the watcher's done record."""
PHASE_FILE = f"{LOG_DIR}/phase"
"""The provisioning step the runner is in before the command starts (e.g. pulling an image)."""
PULL_LOG = f"{LOG_DIR}/image_pull.log"
"""Output of the last image pull (also appended to the runner log)."""
KERNEL_SEEN = f"{LOG_DIR}/kernel_seen"
"""Touched by every status read of a kernel; the watcher gives such a kernel time to keep logs."""
WATCHER_LOG = f"{LOG_DIR}/watcher.log"
"""Progress of the on-instance watcher (never a secret)."""
WATCH_DIR = "/root/.flow-task"
"""Root-only directory of the watcher and its settings (they hold the task key)."""
WORKSPACE = "/workspace"
DEFAULT_SSH_USER = "ubuntu"
"""The login user of instances; it writes the rank file, markers and code over SSH."""
VOLUME_ROOT = "/mnt/volumes"
"""The sandbox exposes each attached volume at ``VOLUME_ROOT/<volume_fid>``."""

LOG_FILES = {"stdout": STDOUT_LOG, "stderr": STDERR_LOG}
