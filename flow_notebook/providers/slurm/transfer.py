"""Copying files to and from the login node: SFTP over SSH, or plain copies locally."""

from __future__ import annotations

import posixpath
import shlex
import shutil
from pathlib import Path

from flow_notebook.providers.slurm.login import LOGIN_ID, SSHLogin


class SftpTransfer:
    """Copies over the login node's SFTP (Mithril's remote file operations).

    Args:
        login: The login node over SSH.
    """

    def __init__(self, login: SSHLogin) -> None:
        self._login = login
        self._ops = login.ops

    def upload(self, local_path: Path, remote_path: str) -> None:
        """Copies a local file or directory tree to ``remote_path``."""
        if local_path.is_dir():
            self._ops.upload_directory(LOGIN_ID, local_path, remote_path)
        else:
            with self._ops.files(LOGIN_ID) as files:
                files.makedirs(posixpath.dirname(remote_path))
            self._ops.upload_file(LOGIN_ID, local_path, remote_path)

    def download(self, remote_path: str, local_path: Path) -> None:
        """Copies a remote file or tree to ``local_path``."""
        quoted = shlex.quote(remote_path)
        kind = self._login.execute_command(LOGIN_ID, f"[ -d {quoted} ] && echo dir || true", 60)
        if kind.strip() == "dir":
            self._ops.download_directory(LOGIN_ID, remote_path, local_path)
        else:
            self._ops.download_file(LOGIN_ID, remote_path, local_path.parent, local_path.name)


class LocalTransfer:
    """Copies on this machine, when it is the login node."""

    def upload(self, local_path: Path, remote_path: str) -> None:
        """Copies a local file or directory tree to ``remote_path``."""
        _copy(local_path, Path(remote_path))

    def download(self, remote_path: str, local_path: Path) -> None:
        """Copies a file or tree at ``remote_path`` to ``local_path``."""
        _copy(Path(remote_path), local_path)


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
