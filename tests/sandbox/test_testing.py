"""The sandbox fixtures' process accounting: exact even with two sandboxes at once."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from flow_notebook.sandbox.procs import pid_namespace
from flow_notebook.sandbox.testing import start_sandbox, stop_sandbox

pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("require_ssh")]


def _running_sshd(sandbox) -> tuple[str, int]:
    bid = sandbox.place_bid(script="sleep 300 &")
    [instance] = sandbox.running_instances(bid["fid"])
    host, port = instance["ssh_destination"].rsplit(":", 1)
    return host, int(port)


def _answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def test_each_sandbox_counts_only_its_own_instances_and_stopping_one_spares_the_other(
    tmp_path: Path,
):
    first = start_sandbox(tmp_path / "first")
    second = start_sandbox(tmp_path / "second")
    try:
        first_sshd = _running_sshd(first)
        second_sshd = _running_sshd(second)
        mine, theirs = set(first.instance_processes()), set(second.instance_processes())
        assert mine and theirs and not mine & theirs
        # Each instance has a PID namespace of its own (sshd, the startup script's sleep).
        here = pid_namespace(os.getpid())
        mine_ns = {pid_namespace(pid) for pid in mine} - {here}
        theirs_ns = {pid_namespace(pid) for pid in theirs} - {here}
        assert mine_ns and theirs_ns and mine_ns.isdisjoint(theirs_ns)
        stop_sandbox(first)
        assert first.instance_processes() == [] and not _answers(first_sshd)
        assert _answers(second_sshd)
        # All of them survived (a connection may have added an sshd child meanwhile).
        assert theirs <= set(second.instance_processes())
    finally:
        for sandbox in (first, second):
            if sandbox.process.poll() is None:
                stop_sandbox(sandbox)


def test_a_handle_without_an_id_claims_no_process(tmp_path: Path):
    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        _running_sshd(sandbox)
        sandbox_id, sandbox.sandbox_id = sandbox.sandbox_id, ""
        assert sandbox.instance_processes() == []
        sandbox.sandbox_id = sandbox_id
        assert sandbox.instance_processes()
    finally:
        stop_sandbox(sandbox)
