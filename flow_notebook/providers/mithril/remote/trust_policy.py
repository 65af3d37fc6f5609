"""``TrustOnFirstUse``: paramiko's host-key policy backed by the per-instance store.

Imported only when a connection is made, so loading the package does not load paramiko.
"""

from __future__ import annotations

import paramiko

from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.host_keys import HostKeyStore


class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Asks the store about every server key: unknown instances recorded, changed keys refused.

    No host keys are loaded into the client, so paramiko asks this policy about
    every server key, and the store decides.

    Args:
        store: The per-instance host keys.
        endpoint: The instance being connected to.
    """

    def __init__(self, store: HostKeyStore, endpoint: SSHEndpoint) -> None:
        self._store = store
        self._endpoint = endpoint

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        """Raises unless ``key`` is the one recorded for this instance (records a first one)."""
        self._store.verify(
            self._endpoint.instance_id, hostname, f"{key.get_name()} {key.get_base64()}"
        )
