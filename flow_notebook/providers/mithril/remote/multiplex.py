"""Shared ``ssh`` connections (OpenSSH ``ControlMaster``) for command-line tools like rsync.

Every rsync run starts its own ``ssh``, and without sharing each run pays a full
SSH handshake (about 0.2 s on loopback, more over a real network), which is most
of the cost of re-syncing one changed file. ``SSHMultiplexer`` hands out options
that make the first run leave a master connection that later runs reuse. A master
exits after ``persist`` idle seconds on its own; ``close`` ends every master at once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

DEFAULT_PERSIST_SECONDS = 60
_SOCKET_PATH_MAX = 100
"""Unix socket paths are limited to 108 bytes; ssh adds the 40-character ``%C`` and a
temporary suffix while it sets a master up."""
_SUFFIX_ROOM = 1 + 40 + 18


class SSHMultiplexer:
    """Options for ``ssh`` that share one connection per destination, and their cleanup.

    Args:
        persist: Seconds an idle master connection stays open.
        ssh: The ``ssh`` program (used to end masters on ``close``).
        parent: Directory for the control sockets' private directory (default: the
            system's temporary directory; socket paths must stay short).
    """

    def __init__(
        self,
        persist: int = DEFAULT_PERSIST_SECONDS,
        *,
        ssh: str = "ssh",
        parent: Path | None = None,
    ) -> None:
        self._persist = persist
        self._ssh = ssh
        self._parent = parent
        self._dir: Path | None = None
        self._lock = threading.Lock()

    def options(self) -> list[str]:
        """Returns ``-o`` options to put after ``ssh``; creates the socket directory once.

        Returns:
            The options, or none when the socket paths would be too long (then every
            run connects on its own, as without sharing).
        """
        with self._lock:
            if self._dir is None:
                # mkdtemp makes it 0700: only this user can reach the shared connections.
                self._dir = Path(tempfile.mkdtemp(prefix="flow-ssh-", dir=self._parent))
            if len(str(self._dir)) + _SUFFIX_ROOM > _SOCKET_PATH_MAX:
                return []
            control_path = self._dir / "%C"
        return [
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={control_path}",
            "-o",
            f"ControlPersist={self._persist}",
        ]

    def close(self) -> None:
        """Ends every master connection and removes the sockets. Safe to call twice."""
        with self._lock:
            directory, self._dir = self._dir, None
        if directory is None:
            return
        for socket in directory.iterdir():
            try:
                subprocess.run(
                    [self._ssh, "-S", str(socket), "-O", "exit", "flow-master"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                pass  # The master still exits after its idle time.
        shutil.rmtree(directory, ignore_errors=True)
