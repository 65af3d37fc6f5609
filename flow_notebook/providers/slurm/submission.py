"""Submitting a task: its directory, scripts and code on the shared filesystem, then sbatch.

The order makes a failed submission cost nothing on the cluster: files are written
and code is uploaded first; ``sbatch`` runs once, last, and only its job id is
recorded. A lost answer from sbatch is never retried (no second job).
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.runtime import paths
from flow_notebook.providers.slurm.batch import SCRIPT_NAMES, batch_script, node_script
from flow_notebook.providers.slurm.code import ICodeShip
from flow_notebook.providers.slurm.jobs import JobService
from flow_notebook.providers.slurm.layout import TaskLayout
from flow_notebook.providers.slurm.login import ILogin
from flow_notebook.providers.slurm.offers import JobShape
from flow_notebook.providers.slurm.records import TASK_PREFIX, RecordStore, SlurmTaskRecord

_CALLER = "slurm-submit"


class Submitter:
    """Prepares a task's files and submits its job.

    Args:
        login: The login node.
        jobs: Slurm's commands.
        records: Where the submitted task is recorded.
        code: Sends the code directory.
        root: Returns the Slurm root directory (absolute).
    """

    def __init__(
        self,
        login: ILogin,
        jobs: JobService,
        records: RecordStore,
        code: ICodeShip,
        root: Callable[[], str],
    ) -> None:
        self._login = login
        self._jobs = jobs
        self._records = records
        self._code = code
        self._root = root

    def submit(self, config: TaskConfig, shape: JobShape) -> SlurmTaskRecord:
        """Writes the task's files, uploads its code, submits it and records it.

        Returns:
            The record of the submitted task.

        Raises:
            ValidationError: Slurm refused the job (one line).
            RemoteOperationError: The login node could not be reached or written.
        """
        dir_name = f"{config.name}-{uuid.uuid4().hex[:8]}"
        own_dir = config.working_dir == paths.WORKSPACE  # the default: the task's own
        layout = TaskLayout.under(self._root(), dir_name, None if own_dir else config.working_dir)
        self._write_files(layout, config, shape)
        code: dict[str, Any] = {}
        if config.upload_code and config.code_root is not None:
            code = self._code.send(f"{TASK_PREFIX}{dir_name}", Path(config.code_root), layout)
        environment = {**config.env, **config.secret_values(), "FLOW_TASK_NAME": config.name}
        job_id = self._jobs.submit(layout.path("job.sh"), environment)
        record = SlurmTaskRecord(
            task_id=f"{TASK_PREFIX}{job_id}",
            job_id=job_id,
            name=config.name,
            command=config.command_line(),
            instance_type=shape.instance_type,
            partition=shape.partition,
            num_nodes=shape.nodes,
            task_dir=layout.task_dir,
            work_dir=layout.work_dir,
            metadata=_code_facts(code),
        )
        self._records.save(record)
        return record

    def _write_files(self, layout: TaskLayout, config: TaskConfig, shape: JobShape) -> None:
        files = {
            "job.sh": batch_script(layout, shape, config.name),
            "run.sh": node_script(layout, config),
        }
        if config.script is not None:
            files[SCRIPT_NAMES[config.interpreter]] = config.script
        dirs = " ".join(shlex.quote(d) for d in (layout.task_dir, layout.work_dir))
        self._login.execute_command(_CALLER, f"mkdir -p {dirs}", 60)
        for name, text in files.items():
            path = shlex.quote(layout.path(name))
            self._login.execute_command(
                _CALLER, f"umask 077 && cat > {path}", 60, stdin=text.encode()
            )


def _code_facts(report: dict[str, Any]) -> dict[str, Any]:
    if not report:
        return {}
    return {
        "code_digest": report.get("digest"),
        "code_files": report.get("files_total"),
        "code_sent_bytes": report.get("bytes"),
    }
