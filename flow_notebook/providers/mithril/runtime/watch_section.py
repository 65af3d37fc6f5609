"""The part of the startup script that installs and starts the on-instance watcher.

The watcher's source and its settings (with the task key) are written into a
root-only directory with ``umask 077``; the settings travel as base64 so no
value is ever parsed by the shell, and nothing here is echoed. See
``runtime/watcher.py`` for what the watcher does.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from flow_notebook.providers.mithril.runtime import watcher
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout

DEFAULT_GRACE_SECONDS = 30.0
"""Seconds between SIGTERM and SIGKILL when the run-time limit stops a command."""
DEFAULT_LINGER_SECONDS = 2.0
"""Pause between the command's end and the cancel, so a following kernel reads the last logs."""
DEFAULT_KERNEL_WAIT_SECONDS = 60.0
"""Longest wait for a kernel seen reading the task to save its logs and end the bid itself."""


@dataclass(frozen=True)
class TaskWatch:
    """What the watcher of one task needs.

    Attributes:
        api_url: Mithril API base URL, as the instance reaches it.
        project: Project fid of the bid.
        bid_name: The bid's unique name (the watcher looks its bid up by it).
        key_fid: Id of the task key.
        key_secret: The task key's secret (never in a repr).
        key_expires_at: ISO time the task key expires (done keys expire with it).
        max_run_seconds: Run-time limit from the first allocation, if any.
        keep_alive: Leave the instance up when the command ends.
        grace_seconds: SIGTERM to SIGKILL delay at the limit.
        linger_seconds: Pause between the end and the cancel.
        kernel_wait_seconds: Longest wait for a watching kernel to keep the logs.
    """

    api_url: str
    project: str
    bid_name: str
    key_fid: str
    key_secret: str = field(repr=False)
    key_expires_at: str
    max_run_seconds: float | None = None
    keep_alive: bool = False
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    linger_seconds: float = DEFAULT_LINGER_SECONDS
    kernel_wait_seconds: float = DEFAULT_KERNEL_WAIT_SECONDS


def watch_section(layout: RuntimeLayout, watch: TaskWatch, num_nodes: int) -> str:
    """Returns shell that clears stale markers, installs the watcher and starts it detached."""
    q = shlex.quote
    settings = {
        "api_url": watch.api_url,
        "project": watch.project,
        "bid_name": watch.bid_name,
        "key_fid": watch.key_fid,
        "key_secret": watch.key_secret,
        "key_expires_at": watch.key_expires_at,
        "max_run_seconds": watch.max_run_seconds,
        "keep_alive": watch.keep_alive,
        "grace_seconds": watch.grace_seconds,
        "linger_seconds": watch.linger_seconds,
        "kernel_wait_seconds": watch.kernel_wait_seconds,
        "kernel_seen_file": layout.kernel_seen_file,
        "num_nodes": num_nodes,
        "done_marker": layout.done_marker,
        "exit_code_file": layout.exit_code_file,
        "stderr_log": layout.stderr_log,
        "runner_pid_file": layout.runner_pid_file,
        "rank_file": layout.node_rank_file,
    }
    encoded = base64.b64encode(json.dumps(settings).encode()).decode("ascii")
    source = watcher_source()
    delimiter = "FLOW_WATCHER_EOF"
    while delimiter in source:
        delimiter += "_X"
    directory = layout.watch_dir
    program, config = q(f"{directory}/watcher.py"), q(f"{directory}/watcher.json")
    stale = " ".join(q(p) for p in (layout.exit_code_file, layout.done_marker))
    return (
        f"rm -f {stale}\n"
        f"(umask 077 && mkdir -p {q(directory)} && chmod 700 {q(directory)})\n"
        f"(umask 077 && cat >{program}) <<'{delimiter}'\n{source}\n{delimiter}\n"
        f"(umask 077 && printf '%s' {q(encoded)} | base64 -d >{config})\n"
        "if command -v python3 >/dev/null; then\n"
        f"  setsid nohup python3 {program} {config} >>{q(layout.watcher_log)} 2>&1 </dev/null &\n"
        "else\n"
        "  echo 'flow: no python3 here, so this instance cannot end its bid itself'"
        f" >>{q(layout.watcher_log)}\n"
        "fi\n"
    )


@functools.cache
def watcher_source() -> str:
    """Returns the watcher's source without docstrings, to keep startup scripts small."""
    tree = ast.parse(Path(watcher.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef)
        if isinstance(node, kinds) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree) + "\n"


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
