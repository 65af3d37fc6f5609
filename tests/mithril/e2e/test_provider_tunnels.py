"""Port forwards to a sandbox instance over the pooled SSH connection (ITunnelManager)."""

from __future__ import annotations

import socket

import pytest

from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.models import TaskConfig
from flow_notebook.core.provider_interfaces import ITunnelManager


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_tunnel_forwards_a_local_port_to_the_instance_and_closes(provider, waits):
    task = provider.submit_task("", TaskConfig(command="sleep 120"))
    running = waits.status(provider, task.task_id, {"running"})
    manager = provider.get_ssh_tunnel_manager()
    assert isinstance(manager, ITunnelManager)
    # The instance's own sshd is a service listening on the instance: reach it.
    tunnel = manager.open_tunnel(task.task_id, running.ssh_port)
    assert tunnel.task_id == task.task_id and tunnel.remote_port == running.ssh_port
    with socket.create_connection(("127.0.0.1", tunnel.local_port), timeout=5) as conn:
        assert conn.recv(8).startswith(b"SSH-2.0")
    assert manager.open_tunnel(task.task_id, running.ssh_port) == tunnel  # the same one
    assert manager.list_tunnels() == [tunnel]
    assert manager.list_tunnels(task.task_id) == [tunnel]
    assert manager.list_tunnels("bid_other") == []
    assert manager.close_tunnel(tunnel.tunnel_id) is True
    assert manager.close_tunnel(tunnel.tunnel_id) is False
    assert manager.list_tunnels() == []
    assert _refused(tunnel.local_port)


def test_close_all_stops_every_tunnel_and_an_ended_task_has_none(provider, waits):
    task = provider.submit_task("", TaskConfig(command="sleep 120"))
    running = waits.status(provider, task.task_id, {"running"})
    manager = provider.get_ssh_tunnel_manager()
    tunnel = manager.open_tunnel(task.task_id, running.ssh_port)
    manager.close_all()
    assert manager.list_tunnels() == [] and _refused(tunnel.local_port)
    provider.stop_task(task.task_id)
    with pytest.raises(TaskStateError, match="no running instance"):
        manager.open_tunnel(task.task_id, running.ssh_port)
