"""Port forwards to a sandbox instance over the pooled SSH connection."""

from __future__ import annotations

import socket

from flow_notebook.core.models import TaskConfig


def test_tunnel_forwards_a_local_port_to_the_instance_and_stops(provider, waits):
    task = provider.submit_task("", TaskConfig(command="sleep 120"))
    running = waits.status(provider, task.task_id, {"running"})
    manager = provider.get_ssh_tunnel_manager()
    # The instance's own sshd is a service listening on the instance: reach it.
    tunnel = manager.open(task.task_id, remote_port=running.ssh_port)
    with socket.create_connection(("127.0.0.1", tunnel.local_port), timeout=5) as conn:
        assert conn.recv(8).startswith(b"SSH-2.0")
    assert manager.list() == [tunnel]
    tunnel.stop()
    assert manager.list() == []
    try:
        socket.create_connection(("127.0.0.1", tunnel.local_port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused
