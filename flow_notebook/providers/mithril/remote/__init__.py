"""SSH access to Mithril instances: connections, trusted host keys, commands and files.

This package is the only place that knows paramiko, and it imports it lazily, on
the first connection. Everything it raises is a ``flow_notebook.core.errors`` class;
paramiko and socket exceptions are mapped in ``errors.ssh_errors``.
"""

from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.errors import RemoteCommandError, ssh_errors
from flow_notebook.providers.mithril.remote.host_keys import HostKeyStore
from flow_notebook.providers.mithril.remote.operations import MithrilRemoteOperations
from flow_notebook.providers.mithril.remote.pool import SSHConnectionPool

__all__ = [
    "HostKeyStore",
    "MithrilRemoteOperations",
    "RemoteCommandError",
    "SSHConnectionPool",
    "SSHEndpoint",
    "ssh_errors",
]
