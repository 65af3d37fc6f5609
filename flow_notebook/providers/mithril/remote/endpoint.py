"""Where an instance's SSH server listens, and which instance it is."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SSH_PORT = 22


@dataclass(frozen=True)
class SSHEndpoint:
    """An SSH server of one instance.

    Attributes:
        host: Host name or address.
        port: TCP port.
        user: Login user.
        instance_id: The provider's instance id; host keys are trusted per instance.
    """

    host: str
    port: int
    user: str
    instance_id: str

    @property
    def host_port(self) -> str:
        """The name OpenSSH uses in known_hosts: ``host`` or ``[host]:port``."""
        if self.port == DEFAULT_SSH_PORT:
            return self.host
        return f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port} ({self.instance_id})"
