"""Per-instance trust on first use, in the store and against real sshd servers."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from flow_notebook.core.errors import HostKeyMismatchError
from flow_notebook.providers.mithril.remote import (
    HostKeyStore,
    MithrilRemoteOperations,
    SSHConnectionPool,
)


def test_first_key_is_recorded_then_matched(host_keys):
    assert host_keys.verify("inst-1", "[10.0.0.1]:2222", "ssh-ed25519 AAAA1") == "recorded"
    assert host_keys.verify("inst-1", "[10.0.0.1]:2222", "ssh-ed25519 AAAA1") == "matched"
    assert host_keys.lookup("inst-1", "[10.0.0.1]:2222") == "ssh-ed25519 AAAA1"


def test_changed_key_of_the_same_instance_is_refused_with_a_way_out(host_keys):
    host_keys.verify("inst-1", "[10.0.0.1]:2222", "ssh-ed25519 AAAA1")
    with pytest.raises(HostKeyMismatchError) as caught:
        host_keys.verify("inst-1", "[10.0.0.1]:2222", "ssh-ed25519 BBBB2")
    message = str(caught.value)
    assert "delete the" in message and str(host_keys.path) in message
    assert "\n" not in message
    assert host_keys.lookup("inst-1", "[10.0.0.1]:2222") == "ssh-ed25519 AAAA1"


def test_new_instance_at_a_reused_address_is_a_new_trust(host_keys):
    host_keys.verify("inst-1", "[10.0.0.1]:2222", "ssh-ed25519 AAAA1")
    assert host_keys.verify("inst-2", "[10.0.0.1]:2222", "ssh-ed25519 BBBB2") == "recorded"


def test_forget_allows_a_new_key(host_keys):
    host_keys.verify("inst-1", "h", "ssh-ed25519 AAAA1")
    assert host_keys.forget("inst-1") is True
    assert host_keys.forget("inst-1") is False
    assert not host_keys.known_hosts_path("inst-1").exists()
    assert host_keys.verify("inst-1", "h", "ssh-ed25519 BBBB2") == "recorded"


def test_known_hosts_file_is_openssh_format(host_keys):
    host_keys.verify("inst/1", "[10.0.0.1]:2222", "ssh-ed25519 AAAA1")
    path = host_keys.known_hosts_path("inst/1")
    assert path.parent == host_keys.path.parent / "known_hosts.d"
    assert path.read_text() == "[10.0.0.1]:2222 ssh-ed25519 AAAA1\n"
    assert path.stat().st_mode & 0o077 == 0


def test_record_survives_a_new_store_object(tmp_path):
    HostKeyStore(tmp_path).verify("inst-1", "h", "ssh-ed25519 AAAA1")
    with pytest.raises(HostKeyMismatchError):
        HostKeyStore(tmp_path).verify("inst-1", "h", "ssh-ed25519 BBBB2")


def test_under_home_keeps_state_in_the_flow_home(tmp_path):
    assert HostKeyStore.under_home(tmp_path).path == tmp_path / "ssh" / "host_keys.json"


@pytest.mark.ssh
def test_real_server_key_is_trusted_on_first_connect_then_checked(own_sshd, host_keys):
    pool = SSHConnectionPool(own_sshd.client_key, host_keys, connect_timeout=5)
    try:
        endpoint = own_sshd.endpoint("inst-a")
        pool.client(endpoint)
        recorded = host_keys.lookup("inst-a", endpoint.host_port)
        assert recorded == " ".join((own_sshd.directory / "host_key.pub").read_text().split()[:2])
        pool.discard(endpoint)
        pool.client(endpoint)  # Same key again: accepted.

        own_sshd.stop()
        own_sshd.new_host_key()
        own_sshd.start()
        pool.discard(endpoint)
        with pytest.raises(HostKeyMismatchError, match="inst-a"):
            pool.client(endpoint)

        # A different instance at the same address gets its own trust.
        pool.client(own_sshd.endpoint("inst-b"))
        assert host_keys.lookup("inst-b", endpoint.host_port) != recorded
    finally:
        pool.close()


@pytest.mark.ssh
def test_command_line_ssh_refuses_a_changed_key(own_sshd, host_keys):
    pool = SSHConnectionPool(own_sshd.client_key, host_keys, connect_timeout=5)
    ops = MithrilRemoteOperations(lambda task_id: [own_sshd.endpoint("inst-a")], pool)
    try:
        command = ops.shell_command("t", "true")
        own_sshd.stop()
        own_sshd.new_host_key()
        own_sshd.start()
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=10)
        assert result.returncode != 0
        assert "host key" in result.stderr.lower() or "HOST IDENTIFICATION" in result.stderr
    finally:
        pool.close()
