"""Host keys trusted on first use, per instance.

Cloud providers reuse addresses and ports: a new instance at a known ``[host]:port``
is a new trust, not an attack. The store therefore keys every host key by instance
id and ``[host]:port``. The same instance presenting another key is refused.

State lives in ``<home>/ssh/``: ``host_keys.json`` (the record) and one OpenSSH
``known_hosts`` file per instance, for ``ssh``/``rsync`` command lines run with
``-o StrictHostKeyChecking=yes``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Literal

from flow_notebook.core.errors import ConfigurationError, HostKeyMismatchError

STORE_FILE = "host_keys.json"
KNOWN_HOSTS_DIR = "known_hosts.d"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

Verdict = Literal["recorded", "matched"]


class HostKeyStore:
    """Records and checks instance host keys (trust on first use).

    Safe to share between threads; each check re-reads the file, so several
    processes sharing one ``home`` see each other's records.

    Args:
        directory: Directory holding the record and the known_hosts files.
    """

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)
        self._lock = threading.Lock()

    @classmethod
    def under_home(cls, home: Path) -> HostKeyStore:
        """Returns the store kept in ``<home>/ssh``.

        Args:
            home: The ``FLOW_HOME`` directory (``FlowConfig.home``).

        Returns:
            The store.
        """
        return cls(Path(home) / "ssh")

    @property
    def path(self) -> Path:
        """The JSON record of trusted keys."""
        return self._dir / STORE_FILE

    def known_hosts_path(self, instance_id: str) -> Path:
        """Returns the OpenSSH known_hosts file holding ``instance_id``'s key."""
        return self._dir / KNOWN_HOSTS_DIR / _SAFE_NAME.sub("_", instance_id)

    def lookup(self, instance_id: str, host_port: str) -> str | None:
        """Returns the trusted key (``"<type> <base64>"``) or ``None`` if none yet."""
        with self._lock:
            return self._read().get(instance_id, {}).get(host_port)

    def verify(self, instance_id: str, host_port: str, key: str) -> Verdict:
        """Checks ``key`` against the record, recording it when the instance is new.

        Args:
            instance_id: The instance presenting the key.
            host_port: ``host`` or ``[host]:port`` as in known_hosts.
            key: The presented key as ``"<type> <base64>"``.

        Returns:
            ``"recorded"`` on first use, ``"matched"`` when it equals the record.

        Raises:
            HostKeyMismatchError: The instance presented a different key before.
        """
        with self._lock:
            record = self._read()
            known = record.get(instance_id, {}).get(host_port)
            if known == key:
                return "matched"
            if known is not None:
                raise HostKeyMismatchError(
                    f"instance {instance_id} at {host_port} presented a different SSH host key",
                    suggestion=f"if the instance was rebuilt on purpose, delete the {instance_id}"
                    f" entry in {self.path} and retry; otherwise do not connect to it",
                )
            record.setdefault(instance_id, {})[host_port] = key
            self._write(record)
            self._write_known_hosts(instance_id, record[instance_id])
            return "recorded"

    def forget(self, instance_id: str) -> bool:
        """Drops every key of ``instance_id``; ``False`` when none was recorded."""
        with self._lock:
            record = self._read()
            if record.pop(instance_id, None) is None:
                return False
            self._write(record)
            self.known_hosts_path(instance_id).unlink(missing_ok=True)
            return True

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            loaded: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the SSH host key record {self.path}",
                suggestion="fix or delete the file",
            ) from exc
        instances = loaded.get("instances") if isinstance(loaded, dict) else None
        return instances if isinstance(instances, dict) else {}

    def _write(self, record: dict[str, dict[str, str]]) -> None:
        _atomic_write(self.path, json.dumps({"version": 1, "instances": record}, indent=1))

    def _write_known_hosts(self, instance_id: str, keys: dict[str, str]) -> None:
        lines = "".join(f"{host_port} {key}\n" for host_port, key in sorted(keys.items()))
        _atomic_write(self.known_hosts_path(instance_id), lines)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from exc
