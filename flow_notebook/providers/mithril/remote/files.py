"""File transfer over SFTP: atomic writes on both sides and path-escape refusal."""

from __future__ import annotations

import os
import posixpath
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.errors import ssh_errors

if TYPE_CHECKING:
    import paramiko

PART_SUFFIX = ".flow-part"
"""Suffix of the temporary files an upload writes before renaming them into place."""

ByteCallback = Callable[[int, int], None]


class RemoteFiles:
    """File operations on one instance over one SFTP session.

    Uploads write ``<name>.<random>.flow-part`` next to the target and rename it into
    place, so an interrupted upload never leaves a half-written file under the real
    name. Use as a context manager to close the session.

    Args:
        sftp: An open paramiko SFTP client.
        endpoint: The instance, for error messages.
    """

    def __init__(self, sftp: paramiko.SFTPClient, endpoint: SSHEndpoint) -> None:
        self._sftp = sftp
        self._endpoint = endpoint

    def __enter__(self) -> RemoteFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the SFTP session."""
        self._sftp.close()

    def put(self, local: Path, remote: str, callback: ByteCallback | None = None) -> int:
        """Uploads a local file atomically, keeping its mode and modification time.

        Args:
            local: The file to send (symlinks are followed).
            remote: Absolute destination path; parent directories are created.
            callback: Called with ``(bytes_sent, bytes_total)`` as data goes out.

        Returns:
            The number of bytes sent.

        Raises:
            RemoteOperationError: The transfer failed.
        """
        info = local.stat()
        with ssh_errors(f"upload {remote}", self._endpoint):
            self.makedirs(posixpath.dirname(remote))
            tmp = _part_name(remote)
            try:
                self._sftp.put(str(local), tmp, callback=callback, confirm=True)
                self._sftp.chmod(tmp, stat.S_IMODE(info.st_mode))
                self._sftp.utime(tmp, (info.st_atime, info.st_mtime))
                self._sftp.posix_rename(tmp, remote)
            except BaseException:
                self._remove_quietly(tmp)
                raise
        return info.st_size

    def write_bytes(self, remote: str, data: bytes, *, mode: int | None = None) -> None:
        """Writes ``data`` to ``remote`` atomically, creating parent directories.

        Args:
            remote: The file.
            data: Its content.
            mode: Permissions set before any byte is written (e.g. 0o600 for secrets).
        """
        with ssh_errors(f"write {remote}", self._endpoint):
            self.makedirs(posixpath.dirname(remote))
            tmp = _part_name(remote)
            try:
                with self._sftp.open(tmp, "wb") as handle:
                    if mode is not None:
                        handle.chmod(mode)
                    handle.write(data)
                self._sftp.posix_rename(tmp, remote)
            except BaseException:
                self._remove_quietly(tmp)
                raise

    def read_bytes(self, remote: str) -> bytes:
        """Returns the content of ``remote``.

        Raises:
            RemoteOperationError: The file is missing or unreadable.
        """
        with ssh_errors(f"read {remote}", self._endpoint), self._sftp.open(remote, "rb") as handle:
            handle.prefetch()
            return handle.read()

    def exists(self, remote: str) -> bool:
        """Whether ``remote`` exists."""
        with ssh_errors(f"stat {remote}", self._endpoint):
            try:
                self._sftp.stat(remote)
            except FileNotFoundError:
                return False
        return True

    def remove(self, remote: str) -> bool:
        """Removes a file; ``False`` when it was not there."""
        with ssh_errors(f"remove {remote}", self._endpoint):
            try:
                self._sftp.remove(remote)
            except FileNotFoundError:
                return False
        return True

    def makedirs(self, remote_dir: str) -> None:
        """Creates ``remote_dir`` and its parents when missing."""
        if remote_dir in ("", "/"):
            return
        with ssh_errors(f"mkdir {remote_dir}", self._endpoint):
            try:
                if stat.S_ISDIR(self._sftp.stat(remote_dir).st_mode or 0):
                    return
            except FileNotFoundError:
                self.makedirs(posixpath.dirname(remote_dir))
                self._sftp.mkdir(remote_dir)

    def get(self, remote: str, local_dir: Path, relative: str) -> Path:
        """Downloads ``remote`` to ``local_dir/relative`` via a temporary file.

        Args:
            remote: The file to fetch.
            local_dir: The directory downloads must stay inside.
            relative: Where under ``local_dir`` to write.

        Returns:
            The local path written.

        Raises:
            RemoteOperationError: ``relative`` would escape ``local_dir``, or the
                transfer failed.
        """
        target = contained_path(local_dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PART_SUFFIX, dir=target.parent)
        os.close(fd)
        try:
            with ssh_errors(f"download {remote}", self._endpoint):
                self._sftp.get(remote, tmp)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target

    def walk_files(self, remote_dir: str) -> Iterator[str]:
        """Yields the regular files under ``remote_dir`` as relative POSIX paths.

        Symlinks are not followed, so a link cannot lead the walk out of the tree.
        """
        with ssh_errors(f"list {remote_dir}", self._endpoint):
            entries = self._sftp.listdir_attr(remote_dir)
        for entry in sorted(entries, key=lambda item: item.filename):
            mode = entry.st_mode or 0
            full = posixpath.join(remote_dir, entry.filename)
            if stat.S_ISDIR(mode):
                for rel in self.walk_files(full):
                    yield posixpath.join(entry.filename, rel)
            elif stat.S_ISREG(mode):
                yield entry.filename

    def _remove_quietly(self, remote: str) -> None:
        try:
            self._sftp.remove(remote)
        except OSError:
            pass  # Best effort: the next sync removes stale part files.


def contained_path(base: Path, relative: str) -> Path:
    """Returns ``base/relative`` if it stays inside ``base``.

    Args:
        base: The directory writes must stay in.
        relative: A path relative to ``base``, e.g. a name from a remote listing.

    Returns:
        The resolved target path.

    Raises:
        RemoteOperationError: ``relative`` is absolute or climbs out of ``base``.
    """
    root = base.resolve()
    target = (root / relative).resolve()
    if relative.startswith("/") or (target != root and root not in target.parents):
        raise RemoteOperationError(
            f"refusing to write {relative!r} outside the download directory {base}"
        )
    if target == root:
        raise RemoteOperationError(f"refusing to overwrite the download directory {base}")
    return target


def _part_name(remote: str) -> str:
    directory, name = posixpath.split(remote)
    return posixpath.join(directory, f".{name}.{uuid.uuid4().hex[:8]}{PART_SUFFIX}")
