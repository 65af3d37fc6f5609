"""SSHMultiplexer: private socket directory, ControlMaster options, and masters ended on close."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from flow_notebook.providers.mithril.domain.code_upload import CodeUploadService, RsyncStrategy
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer


def _option(options: list[str], name: str) -> str:
    values = [options[i + 1] for i, o in enumerate(options) if o == "-o"]
    return next(v.split("=", 1)[1] for v in values if v.startswith(name + "="))


def test_options_share_one_private_socket_directory(tmp_path):
    multiplexer = SSHMultiplexer(45)
    first, second = multiplexer.options(), multiplexer.options()
    assert first == second
    assert _option(first, "ControlMaster") == "auto"
    assert _option(first, "ControlPersist") == "45"
    control_path = _option(first, "ControlPath")
    assert control_path.endswith("/%C")
    directory = Path(control_path).parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    multiplexer.close()


def test_close_ends_each_master_and_removes_the_directory(tmp_path):
    log = tmp_path / "calls.log"
    fake_ssh = tmp_path / "fake-ssh"
    record = f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')"
    fake_ssh.write_text(f"#!{sys.executable}\nimport sys\n{record}\n")
    fake_ssh.chmod(0o755)
    multiplexer = SSHMultiplexer(ssh=str(fake_ssh))
    directory = Path(_option(multiplexer.options(), "ControlPath")).parent
    (directory / "abc123").write_text("")  # stands for a master's control socket
    multiplexer.close()
    assert log.read_text() == f"-S {directory / 'abc123'} -O exit flow-master\n"
    assert not directory.exists()
    multiplexer.close()  # safe twice
    assert log.read_text().count("\n") == 1


def test_no_sharing_when_socket_paths_would_be_too_long(tmp_path):
    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    multiplexer = SSHMultiplexer(parent=deep)
    assert multiplexer.options() == []
    multiplexer.close()
    assert list(deep.iterdir()) == []


def test_close_without_options_does_nothing(tmp_path):
    SSHMultiplexer(parent=tmp_path, ssh="/nonexistent/ssh").close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.ssh
@pytest.mark.timeout(60)
def test_rsync_runs_share_one_master_that_close_ends(remote_ops, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print(1)\n")
    multiplexer = SSHMultiplexer()  # the system's temporary directory keeps paths short
    rsync = RsyncStrategy(
        remote_ops, manifest_path=str(tmp_path / "manifest.json"), ssh_options=multiplexer.options
    )
    service = CodeUploadService([rsync], remote_ops, remote_root=str(tmp_path / "workspace"),
                                ready_marker=str(tmp_path / "ready"))  # fmt: skip
    try:
        service.sync("task-1", code)
        directory = Path(_option(multiplexer.options(), "ControlPath")).parent
        [socket] = list(directory.iterdir())
        (code / "train.py").write_text("print(2)\n")
        assert service.sync("task-1", code).files_sent == 1
        assert list(directory.iterdir()) == [socket]  # the second run reused the master
        assert (tmp_path / "workspace" / "train.py").read_text() == "print(2)\n"
    finally:
        multiplexer.close()
    assert not directory.exists()
    masters = subprocess.run(["pgrep", "-f", str(directory)], capture_output=True, text=True)
    assert masters.stdout == ""
