"""MithrilRemoteOperations against a real sshd on 127.0.0.1."""

from __future__ import annotations

import os
import shlex
import subprocess
import time

import pytest

from flow_notebook.core.errors import RemoteOperationError, TaskStateError, ValidationError
from flow_notebook.core.provider_interfaces import IRemoteOperations
from flow_notebook.providers.mithril.remote import MithrilRemoteOperations, RemoteCommandError

pytestmark = pytest.mark.ssh


def test_remote_operations_satisfy_the_protocol(remote_ops):
    assert isinstance(remote_ops, IRemoteOperations)


def test_execute_command_returns_stdout(remote_ops):
    assert remote_ops.execute_command("t-1", "echo hello; echo world") == "hello\nworld\n"


def test_execute_command_reuses_one_connection(remote_ops, pool, sshd):
    remote_ops.execute_command("t-1", "true")
    first = pool.client(sshd.endpoint())
    remote_ops.execute_command("t-1", "true")
    assert pool.client(sshd.endpoint()) is first


def test_failing_command_reports_status_and_stderr_tail(remote_ops):
    with pytest.raises(RemoteCommandError) as caught:
        remote_ops.execute_command("t-1", "echo out; echo first >&2; echo last-words >&2; exit 3")
    assert caught.value.exit_status == 3
    assert "status 3" in str(caught.value)
    assert "last-words" in caught.value.stderr_tail
    assert "\n" not in str(caught.value)


def test_command_that_outlives_its_timeout_fails_quickly(remote_ops):
    started = time.monotonic()
    with pytest.raises(RemoteOperationError, match="timed out"):
        remote_ops.execute_command("t-1", "sleep 5", timeout=1)
    assert time.monotonic() - started < 3


def test_task_without_instances_is_a_state_error(pool):
    ops = MithrilRemoteOperations(lambda task_id: [], pool)
    with pytest.raises(TaskStateError, match="no instance"):
        ops.execute_command("t-1", "true")


def test_connection_is_reestablished_after_the_server_drops_it(remote_ops, sshd):
    remote_ops.execute_command("t-1", "true")
    assert sshd.kill_sessions() > 0
    assert remote_ops.execute_command("t-1", "echo again") == "again\n"


def test_unreachable_server_maps_to_remote_operation_error(pool, sshd):
    closed = sshd.endpoint()
    ops = MithrilRemoteOperations(
        lambda task_id: [type(closed)("127.0.0.1", 1, "root", "gone")], pool
    )
    with pytest.raises(RemoteOperationError) as caught:
        ops.execute_command("t-1", "true")
    assert isinstance(caught.value.__cause__, OSError)


def test_retrieve_file_returns_bytes(remote_ops, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"\x00\x01payload")
    assert remote_ops.retrieve_file("t-1", str(tmp_path / "data.bin")) == b"\x00\x01payload"


def test_retrieve_missing_file_is_a_one_line_error(remote_ops, tmp_path):
    with pytest.raises(RemoteOperationError, match="no such file"):
        remote_ops.retrieve_file("t-1", str(tmp_path / "missing"))


def test_stream_command_yields_lines_as_they_come(remote_ops):
    lines = list(remote_ops.stream_command("t-1", "for i in 1 2 3; do echo line-$i; done"))
    assert lines == ["line-1", "line-2", "line-3"]


def test_stream_command_keeps_a_last_line_without_newline(remote_ops):
    assert list(remote_ops.stream_command("t-1", "printf 'a\\nb'")) == ["a", "b"]


def test_stopping_a_stream_ends_the_remote_command(remote_ops, tmp_path):
    marker = tmp_path / "still-running"
    command = f"echo ready; while true; do touch {shlex.quote(str(marker))}; sleep 0.1; done"
    stream = remote_ops.stream_command("t-1", command)
    assert next(stream) == "ready"
    stream.close()
    time.sleep(0.3)
    marker.unlink(missing_ok=True)
    time.sleep(0.3)
    assert not marker.exists()


def test_shell_command_names_the_trusted_host_key_file(remote_ops, sshd, host_keys):
    command = remote_ops.shell_command("t-1", "echo via-cli")
    assert str(host_keys.known_hosts_path("inst-1")) in command
    assert "StrictHostKeyChecking=yes" in command
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=10)
    assert result.stdout == "via-cli\n", result.stderr


def test_open_shell_prints_the_ssh_command(remote_ops, capsys):
    remote_ops.open_shell("t-1")
    assert capsys.readouterr().out.startswith("ssh -p ")


def test_upload_and_download_round_trip(remote_ops, tmp_path):
    source = tmp_path / "src.txt"
    source.write_text("content\n")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    remote = tmp_path / "remote" / "deep" / "dst.txt"
    assert remote_ops.upload_file("t-1", source, str(remote)) == 8
    assert remote.read_text() == "content\n"
    assert remote.stat().st_mtime == 1_600_000_000
    back = remote_ops.download_file("t-1", str(remote), tmp_path / "back")
    assert back == (tmp_path / "back" / "dst.txt").resolve()
    assert back.read_text() == "content\n"
    assert not list(remote.parent.glob("*.flow-part"))


def test_download_refuses_names_that_escape_the_target_directory(remote_ops, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for name in ("../escaped.txt", "/etc/escaped.txt", "a/../../escaped.txt"):
        with pytest.raises(RemoteOperationError, match="refusing"):
            remote_ops.download_file("t-1", str(tmp_path / "file.txt"), tmp_path / "in", name)
    assert not (tmp_path / "escaped.txt").exists()


def test_download_directory_copies_regular_files_only(remote_ops, tmp_path):
    remote = tmp_path / "remote"
    (remote / "sub").mkdir(parents=True)
    (remote / "a.txt").write_text("a")
    (remote / "sub" / "b.txt").write_text("b")
    (remote / "link").symlink_to("/etc")
    written = remote_ops.download_directory("t-1", str(remote), tmp_path / "local")
    assert sorted(p.relative_to((tmp_path / "local").resolve()).as_posix() for p in written) == [
        "a.txt",
        "sub/b.txt",
    ]


def test_upload_directory_refuses_symlinks_leaving_the_tree(remote_ops, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.txt").write_text("ok")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (tree / "leak").symlink_to(outside)
    with pytest.raises(ValidationError, match="outside"):
        remote_ops.upload_directory("t-1", tree, str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()
    sent = remote_ops.upload_directory(
        "t-1", tree, str(tmp_path / "dest"), follow_external_symlinks=True
    )
    assert sent == len("ok") + len("secret")
    assert (tmp_path / "dest" / "leak").read_text() == "secret"
