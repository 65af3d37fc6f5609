"""Launching a local task: task directory, code, volumes, environment, supervisor.

Layout of one task: ``<state>/tasks/<task_id>/`` holds ``spec.json`` (argv, cwd,
time limit; no environment), the supervisor's ``child.json``/``exit.json``, the logs
``stdout.log``/``stderr.log`` and ``work/``, the directory the command runs in.
``TaskConfig.working_dir`` is a path on a cloud instance and is not used here.

Environment values and secrets are handed to the supervisor through its process
environment only; they are never written to the store or to any file.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from flow_notebook.core.code_tree import copy_code_tree, tree_digest
from flow_notebook.core.errors import ProviderUnavailableError, ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.local import proc
from flow_notebook.providers.local.codesync import LocalCodeSync
from flow_notebook.providers.local.store import TaskRecord
from flow_notebook.providers.local.volumes import Mount, env_name

SUPERVISOR_MODULE = "flow_notebook.providers.local.supervisor"


def new_task_id() -> str:
    """Returns a fresh id of the form ``local-<12 hex>``."""
    return f"local-{secrets.token_hex(6)}"


def build_argv(config: TaskConfig, task_dir: Path, python: str) -> list[str]:
    """Returns the argv that runs the task; a script is written into ``task_dir``."""
    if config.script is not None:
        suffix = "py" if config.interpreter == "python" else "sh"
        script = task_dir / f"script.{suffix}"
        script.write_text(config.script, encoding="utf-8")
        return [python if config.interpreter == "python" else "bash", str(script)]
    if isinstance(config.command, str):
        return ["bash", "-c", config.command]
    return list(config.command or [])


def build_env(
    config: TaskConfig, task_id: str, mounts: list[Mount], base: dict[str, str]
) -> dict[str, str]:
    """Returns the task's full environment (``base`` + env + secrets + FLOW_* facts)."""
    env = dict(base)
    env.update(config.env)
    env.update(config.secret_values())
    env.update(
        FLOW_TASK_ID=task_id,
        FLOW_TASK_NAME=config.name,
        FLOW_NODE_RANK="0",
        FLOW_NUM_NODES="1",
        PYTHONUNBUFFERED="1",
    )
    for mount in mounts:
        env[env_name(mount.volume.name)] = str(mount.path)
    return env


def link_mounts(work_dir: Path, mounts: list[Mount]) -> None:
    """Makes each volume visible in ``work_dir`` at its mount path's relative form.

    Raises:
        ValidationError: Something (e.g. uploaded code) already sits at that path.
    """
    for mount in mounts:
        link = work_dir / mount.mount_path.strip("/")
        if link.exists() or link.is_symlink():
            raise ValidationError(
                f"mount path {mount.mount_path} collides with a file in the task directory",
                field="volumes",
            )
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mount.path, target_is_directory=True)


class TaskLauncher:
    """Prepares a task directory and starts its detached supervisor.

    Args:
        tasks_root: Directory holding every task's directory.
        python: Interpreter that runs the supervisor and Python scripts.
        base_env: Environment the task inherits; defaults to this process's.
        private_dirs: Directories never uploaded with code even when inside the code
            root (local state, the config file); default: the parent of ``tasks_root``.
    """

    def __init__(
        self,
        tasks_root: Path,
        python: str = sys.executable,
        base_env: dict[str, str] | None = None,
        private_dirs: list[Path] | None = None,
    ) -> None:
        self._root = tasks_root
        self._python = python
        self._base_env = base_env
        self._private_dirs = private_dirs or [tasks_root.parent]
        self._children: list[subprocess.Popen[bytes]] = []

    @property
    def private_dirs(self) -> list[Path]:
        """Directories never uploaded with code."""
        return list(self._private_dirs)

    def launch(self, config: TaskConfig, instance_type: str, mounts: list[Mount]) -> TaskRecord:
        """Starts the task and returns its record (not yet stored).

        Raises:
            ValidationError: Bad code root or a mount collision.
            ProviderUnavailableError: The supervisor could not be started.
        """
        task_id = new_task_id()
        task_dir = self._root / task_id
        work_dir = task_dir / "work"
        # The task's output and files are the user's alone: 0700 (logs are 0600).
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        task_dir.mkdir(mode=0o700)
        work_dir.mkdir()
        metadata: dict[str, object] = {"work_dir": str(work_dir)}
        if config.upload_code:
            metadata.update(self._upload_code(config, work_dir))
        link_mounts(work_dir, mounts)
        metadata["volumes"] = [
            {"volume_id": m.volume.volume_id, "name": m.volume.name, "mount_path": m.mount_path}
            for m in mounts
        ]
        argv = build_argv(config, task_dir, self._python)
        max_seconds = config.max_run_time_hours * 3600 if config.max_run_time_hours else None
        spec = {"argv": argv, "cwd": str(work_dir), "max_seconds": max_seconds}
        (task_dir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        env = build_env(config, task_id, mounts, dict(self._base_env or os.environ))
        pid = self._start_supervisor(task_dir, env)
        return TaskRecord(
            task_id=task_id,
            name=config.name,
            command=config.command_line(),
            instance_type=instance_type,
            task_dir=task_dir,
            work_dir=work_dir,
            supervisor_pid=pid,
            supervisor_ticks=proc.start_ticks(pid),
            metadata=metadata,
        )

    def _upload_code(self, config: TaskConfig, work_dir: Path) -> dict[str, object]:
        root = Path(config.code_root or Path.cwd())
        # Local state may sit inside the code directory (e.g. FLOW_HOME under it).
        skip = self._private_dirs
        stats = copy_code_tree(root, work_dir, exclude=skip)
        # The manifest lets a later sync send only what changed, and delete nothing else.
        LocalCodeSync(skip).record(root, work_dir.parent)
        return {
            "code_digest": tree_digest(root, exclude=skip),
            "code_files": stats.files,
            "code_bytes": stats.bytes,
        }

    def _start_supervisor(self, task_dir: Path, env: dict[str, str]) -> int:
        try:
            fd = os.open(task_dir / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as log:
                child = subprocess.Popen(
                    [self._python, "-m", SUPERVISOR_MODULE, str(task_dir)],
                    cwd=task_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ProviderUnavailableError(
                f"cannot start the local task supervisor: {exc.strerror}"
            ) from exc
        self._children.append(child)
        return child.pid

    def reap(self) -> None:
        """Collects supervisors this launcher started that have ended (no zombies)."""
        self._children = [child for child in self._children if child.poll() is None]
