"""The batch script of a task and the script each node runs under ``srun``.

Nothing secret is written: ``--env`` and ``--secret`` values reach the job through
its environment (``JobService.submit``). Each node gets what Mithril instances get:
``FLOW_NODE_RANK``, ``FLOW_NUM_NODES``, ``FLOW_MAIN_IP`` and ``MASTER_ADDR``.
"""

from __future__ import annotations

import shlex

from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.slurm.layout import (
    DONE_MARKER,
    EXIT_CODE_FILE,
    LOG_FILES,
    SLURM_LOG,
    TaskLayout,
)
from flow_notebook.providers.slurm.offers import JobShape

SCRIPT_NAMES = {"python": "script.py", "bash": "script.sh"}
INTERPRETERS = {"python": "python3", "bash": "bash"}
_TERMINATED = 143


def batch_script(layout: TaskLayout, shape: JobShape, name: str) -> str:
    """Returns ``job.sh``: the sbatch options, then srun of ``run.sh`` on every node.

    The exit code and the done marker are written when the command ends, and when
    Slurm ends the job early (cancel, time limit: SIGTERM before SIGKILL).
    """
    q = shlex.quote
    options = [
        f"--job-name={name}",
        *shape.sbatch_options(),
        # The batch shell's and srun's own messages; the command's output goes to the logs.
        f"--output={layout.path(SLURM_LOG)}",
        f"--chdir={layout.work_dir}",
        "--open-mode=append",
        # A task runs once: after a node failure or preemption it ends (NODE_FAIL,
        # PREEMPTED) rather than starting over behind the notebook's back.
        "--no-requeue",
    ]
    header = "".join(f"#SBATCH {option}\n" for option in options)
    task_dir = q(layout.task_dir)
    return f"""#!/bin/bash
{header}d={task_dir}
flow_end() {{
  echo "$1" >"$d/{EXIT_CODE_FILE}.tmp" && mv -f "$d/{EXIT_CODE_FILE}.tmp" "$d/{EXIT_CODE_FILE}"
  touch "$d/{DONE_MARKER}"
}}
# A requeued job (preemption, node failure) starts again: its earlier end is gone.
rm -f "$d/{DONE_MARKER}" "$d/{EXIT_CODE_FILE}" "$d"/rank_exit.*
trap 'kill -TERM "$step" 2>/dev/null; wait "$step"; flow_end {_TERMINATED}; exit {_TERMINATED}' TERM
first=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
addr=$(scontrol -o show node "$first" 2>/dev/null | sed -n 's/.* NodeAddr=\\([^ ]*\\).*/\\1/p')
export FLOW_NUM_NODES="$SLURM_JOB_NUM_NODES" FLOW_MAIN_IP="${{addr:-$first}}"
export MASTER_ADDR="$FLOW_MAIN_IP"
srun --kill-on-bad-exit=1 --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \\
  --open-mode=append --output="$d/{LOG_FILES["stdout"]}" --error="$d/{LOG_FILES["stderr"]}" \\
  bash "$d/run.sh" &
step=$!
wait "$step"
code=$?
# With --kill-on-bad-exit the other ranks are terminated (143): the exit code is that of
# the first rank that failed on its own.
for rank in $(seq 0 $((SLURM_JOB_NUM_NODES - 1))); do
  own=$(cat "$d/rank_exit.$rank" 2>/dev/null || echo 0)
  case "$own" in 0|137|143) ;; *) code=$own; break ;; esac
done
flow_end "$code"
exit "$code"
"""


def node_script(layout: TaskLayout, config: TaskConfig) -> str:
    """Returns ``run.sh``: the rank variables, the task's command, its exit code recorded."""
    rank_file = shlex.quote(layout.task_dir) + '/rank_exit."$FLOW_NODE_RANK"'
    return (
        "#!/bin/bash\n"
        'export FLOW_NODE_RANK="$SLURM_NODEID"\n'
        f"cd {shlex.quote(layout.work_dir)}\n"
        f"{command_line(layout, config)}\n"
        "code=$?\n"
        f"echo $code >{rank_file}\n"
        "exit $code\n"
    )


def command_line(layout: TaskLayout, config: TaskConfig) -> str:
    """Returns the shell words that run the task's command or script."""
    if config.script is not None:
        script = layout.path(SCRIPT_NAMES[config.interpreter])
        return f"{INTERPRETERS[config.interpreter]} {shlex.quote(script)}"
    if isinstance(config.command, str):
        return f"bash -c {shlex.quote(config.command)}"
    return shlex.join(config.command or ["true"])
