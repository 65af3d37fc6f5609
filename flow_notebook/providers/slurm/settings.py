"""How to reach a Slurm cluster: the login node, the key, the partition, the task root.

Each setting comes from an environment variable, else from the config file's key of
the same name in lower case without ``FLOW_`` (``slurm_host: login.example.edu``):

====================  ==================================================================
FLOW_SLURM_HOST       Login node; empty when the kernel runs on the login node (no SSH)
FLOW_SLURM_PORT       SSH port of the login node (default 22)
FLOW_SLURM_USER       Login user (default: this user's name)
FLOW_SLURM_KEY        Private key file (default: ssh-agent and ``~/.ssh`` keys)
FLOW_SLURM_PARTITION  Partition of tasks that name none (default: the cluster's default)
FLOW_SLURM_ROOT       Directory on the shared filesystem for task files and volumes
                      (default ``~/.flow-slurm`` of the login user)
====================  ==================================================================
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import ConfigurationError

DEFAULT_ROOT = "~/.flow-slurm"
_KEYS = ("host", "port", "user", "key", "partition", "root")


@dataclass(frozen=True)
class SlurmSettings:
    """Resolved Slurm settings.

    Attributes:
        host: Login node host, or ``None`` to run Slurm's commands here.
        port: SSH port of the login node.
        user: Login user.
        key_path: Private key to log in with, or ``None`` for the agent and defaults.
        partition: Default partition, or ``None`` for the cluster's default.
        root: Task and volume directory on the shared filesystem (``~`` allowed).
    """

    host: str | None = None
    port: int = 22
    user: str = ""
    key_path: Path | None = None
    partition: str | None = None
    root: str = DEFAULT_ROOT

    @property
    def over_ssh(self) -> bool:
        """Whether Slurm is reached over SSH (else this machine is the login node)."""
        return bool(self.host)

    @classmethod
    def from_config(
        cls, config: FlowConfig, environ: Mapping[str, str] | None = None
    ) -> SlurmSettings:
        """Reads the settings from the environment over the config file.

        Raises:
            ConfigurationError: A port that is not a number.
        """
        env = os.environ if environ is None else environ
        values = {
            key: env.get(f"FLOW_SLURM_{key.upper()}") or config.extra.get(f"slurm_{key}")
            for key in _KEYS
        }
        port = str(values["port"] or 22)
        if not port.isdigit() or not 0 < int(port) < 65_536:
            raise ConfigurationError(f"FLOW_SLURM_PORT {port!r} is not a port number")
        key = values["key"]
        return cls(
            host=str(values["host"]) if values["host"] else None,
            port=int(port),
            user=str(values["user"] or getpass.getuser()),
            key_path=Path(str(key)).expanduser() if key else None,
            partition=str(values["partition"]) if values["partition"] else None,
            root=str(values["root"] or DEFAULT_ROOT),
        )
