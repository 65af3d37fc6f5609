"""Where a task's files live on the cluster's shared filesystem.

Each task gets ``<root>/tasks/<dir>/`` (``dir`` is chosen before submission, when
the job id is not known yet)::

    job.sh          the batch script (no secrets: they travel in the job's environment)
    run.sh          what each node runs under srun
    stdout.log      the job's standard output (every node's)
    stderr.log      the job's standard error
    slurm.log       messages of the batch shell, srun and Slurm about the job
    exit_code       the command's exit code, written when it ends
    done            touched once the job has ended (ends a log follow)
    work/           the working directory (code uploaded here) unless one was given
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

LOG_FILES = {"stdout": "stdout.log", "stderr": "stderr.log"}
SLURM_LOG = "slurm.log"
DONE_MARKER = "done"
EXIT_CODE_FILE = "exit_code"
MANIFEST_FILE = "code_manifest.json"
CODE_READY_MARKER = "code_ready"


@dataclass(frozen=True)
class TaskLayout:
    """The paths of one task on the shared filesystem.

    Attributes:
        task_dir: The task's own directory (absolute).
        work_dir: Where the command runs and code is uploaded (absolute).
    """

    task_dir: str
    work_dir: str

    @classmethod
    def under(cls, root: str, dir_name: str, work_dir: str | None = None) -> TaskLayout:
        """Returns the layout of task directory ``dir_name`` under the root ``root``."""
        task_dir = posixpath.join(root, "tasks", dir_name)
        return cls(task_dir, work_dir or posixpath.join(task_dir, "work"))

    def path(self, name: str) -> str:
        """Returns the absolute path of file ``name`` of the task directory."""
        return posixpath.join(self.task_dir, name)

    def log(self, log_type: str) -> str:
        """Returns the path of the ``stdout`` or ``stderr`` log."""
        return self.path(LOG_FILES[log_type])

    def in_work_dir(self, path: str) -> str:
        """Returns ``path`` resolved against the working directory (absolute kept)."""
        return path if path.startswith("/") else posixpath.join(self.work_dir, path)
