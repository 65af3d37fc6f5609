"""The ssh command that logs in to a task as pasted, and its ``Host`` entry for ssh_config.

Providers with remote operations that implement ``IShellCommand`` (Mithril) give the
whole command: port, ``-i KEY`` and the per-instance known_hosts file with strict
checking, the same trust the project's own SSH connections use. Others give the
task's address only.

``%flow ssh --config`` writes ``Host flow-TASK`` entries into ``<FLOW_HOME>/ssh/config``,
never into ``~/.ssh``: the user connects with ``ssh -F <that file> flow-TASK``, or adds
``Include <that file>`` to ``~/.ssh/config`` once and then runs ``ssh flow-TASK``.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from flow_notebook.core.provider_interfaces import IProvider, IShellCommand

CONFIG_FILE = Path("ssh") / "config"
_FLAG_KEYWORDS = {"-p": "Port", "-i": "IdentityFile", "-l": "User"}


def login_command(provider: IProvider, task_id: str) -> str | None:
    """Returns the ssh command that logs in to ``task_id``, or ``None`` without SSH access.

    Raises:
        FlowError: The task or its instance could not be looked up.
    """
    remote = provider.get_remote_operations()
    task = provider.get_task(task_id)
    if not task.ssh_command():
        return None
    if isinstance(remote, IShellCommand):
        return remote.shell_command(task_id)
    return task.ssh_command()


def host_alias(task_id: str) -> str:
    """Returns the ``Host`` name of a task: ``flow-<task id>`` with only safe characters."""
    return "flow-" + re.sub(r"[^A-Za-z0-9._-]", "_", task_id)


def config_entry(alias: str, command: str) -> str:
    """Turns an ``ssh [options] [user@]host`` command into a ``Host alias`` block.

    Raises:
        ValueError: ``command`` is not an ssh command with a destination.
    """
    argv = shlex.split(command)
    if not argv or argv[0] != "ssh":
        raise ValueError(f"not an ssh command: {command}")
    lines: list[str] = []
    destination = None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-o":
            key, _, value = next(args).partition("=")
            lines.append(f"{key} {value}")
        elif arg in _FLAG_KEYWORDS:
            lines.append(f"{_FLAG_KEYWORDS[arg]} {next(args)}")
        elif destination is None and not arg.startswith("-"):
            destination = arg
        else:
            raise ValueError(f"unexpected ssh argument {arg!r}")
    if destination is None:
        raise ValueError(f"no destination in: {command}")
    user, _, host = destination.rpartition("@")
    head = [f"HostName {host}"] + ([f"User {user}"] if user else [])
    body = "".join(f"    {line}\n" for line in head + lines)
    return f"Host {alias}\n{body}"


def write_config_entry(path: Path, alias: str, entry: str) -> None:
    """Writes ``entry`` into the ssh_config file ``path``, replacing the block of ``alias``.

    The file and its directory are private (0600/0700); other blocks are kept.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    kept = _without_block(path.read_text(encoding="utf-8") if path.exists() else "", alias)
    text = (kept.rstrip("\n") + "\n\n" if kept.strip() else "") + entry
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _without_block(text: str, alias: str) -> str:
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        words = line.split()
        if words and words[0].lower() in ("host", "match"):
            skipping = words == ["Host", alias]
        if not skipping:
            kept.append(line)
    return "".join(kept)
