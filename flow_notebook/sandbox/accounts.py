"""The ``ubuntu`` account of an instance, written only into the instance's own ``/etc``.

A Mithril instance boots as Ubuntu with the user ``ubuntu`` (passwordless sudo) besides
``root``. The sandbox's instances start from the host's ``/``, so their account files
are the host's, plus ``ubuntu`` when the host has none, a sudoers entry, and a password
field of ``*`` (no password, not locked: sshd without PAM refuses locked accounts).
The host's own files are only read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

USER = "ubuntu"
FIRST_UID = 1000
EXTRA_GROUPS = ("adm", "sudo")
SUDOERS = "sudoers.d/90-cloud-init-users"
"""Where Ubuntu's cloud images grant ``ubuntu`` sudo."""


def ensure_ubuntu(host_etc: Path, etc: Path) -> tuple[int, int]:
    """Adds ``ubuntu`` to the instance's ``etc`` (once) and returns its uid and gid.

    Args:
        host_etc: The host's ``/etc``, read for the starting account files.
        etc: The instance's ``/etc`` in its upper layer.
    """
    known = _ids(etc / "passwd")
    if known is not None:
        return known
    passwd = _lines(host_etc / "passwd")
    group = _lines(host_etc / "group")
    entry = _find(passwd, USER)
    if entry is None:
        uid = _free_id(passwd, 2)
        gid = uid if uid not in _used_ids(group, 2) else _free_id(group, 2)
        passwd.append(f"{USER}:x:{uid}:{gid}:Ubuntu:/home/{USER}:/bin/bash")
    else:
        uid, gid = int(entry[2]), int(entry[3])
    if _find(group, USER) is None:
        group.append(f"{USER}:x:{gid}:")
    group = [_with_member(line, USER) for line in group]
    shadow = [line for line in _lines(host_etc / "shadow") if line.split(":", 1)[0] != USER]
    shadow.append(f"{USER}:*:19000:0:99999:7:::")
    etc.mkdir(parents=True, exist_ok=True)
    _write_like(host_etc / "group", etc / "group", group)
    _write_like(host_etc / "shadow", etc / "shadow", shadow)
    gshadow = _lines(host_etc / "gshadow")
    if gshadow and _find(gshadow, USER) is None:
        _write_like(host_etc / "gshadow", etc / "gshadow", [*gshadow, f"{USER}:!::"])
    sudoers = etc / SUDOERS
    sudoers.parent.mkdir(parents=True, exist_ok=True)
    sudoers.write_text(f"{USER} ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    # passwd last: its presence marks the account as done.
    _write_like(host_etc / "passwd", etc / "passwd", passwd)
    return uid, gid


def _ids(passwd: Path) -> tuple[int, int] | None:
    entry = _find(_lines(passwd), USER)
    return (int(entry[2]), int(entry[3])) if entry else None


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _find(lines: list[str], name: str) -> list[str] | None:
    for line in lines:
        fields = line.split(":")
        if fields[0] == name:
            return fields
    return None


def _used_ids(lines: list[str], column: int) -> set[int]:
    fields = (line.split(":") for line in lines)
    return {int(f[column]) for f in fields if len(f) > column and f[column].isdigit()}


def _free_id(lines: list[str], column: int) -> int:
    used = _used_ids(lines, column)
    candidate = FIRST_UID
    while candidate in used:
        candidate += 1
    return candidate


def _with_member(line: str, user: str) -> str:
    fields = line.split(":")
    if fields[0] not in EXTRA_GROUPS or len(fields) != 4:
        return line
    members = [m for m in fields[3].split(",") if m]
    if user not in members:
        members.append(user)
    return ":".join([*fields[:3], ",".join(members)])


def _write_like(model: Path, path: Path, lines: list[str]) -> None:
    """Writes ``lines`` to ``path`` with the owner and mode of the host's ``model``."""
    path.write_text("".join(line + "\n" for line in lines))
    if model.exists():
        shutil.copymode(model, path)
        info = model.stat()
        os.chown(path, info.st_uid, info.st_gid)
