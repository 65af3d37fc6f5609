"""``python -m flow_notebook.sandbox``: the three printed lines and a clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from flow_notebook.sandbox.testing import wait_for


def test_prints_three_shell_lines_serves_and_removes_its_temp_root_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "flow_notebook.sandbox", "--no-instances"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline().rstrip("\n") for _ in range(3)]
        assert re.fullmatch(r"MITHRIL_API_URL=http://127\.0\.0\.1:\d+", lines[0])
        assert re.fullmatch(r"MITHRIL_API_KEY=fkey_\w+", lines[1])
        assert re.fullmatch(r"MITHRIL_PROJECT=proj_\w+", lines[2])
        url = lines[0].split("=", 1)[1]
        key = lines[1].split("=", 1)[1]

        def info():
            try:
                return requests.get(f"{url}/_sandbox/info", timeout=2).json()
            except requests.ConnectionError:
                return None

        root = Path(wait_for(info)["root"])
        assert root.is_dir()
        me = requests.get(f"{url}/v2/me", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert me.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not root.exists()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def test_missing_prerequisites_print_one_line_and_instances_end_in_error(tmp_path, capsys):
    from flow_notebook.sandbox.__main__ import build_launcher, parse_args
    from flow_notebook.sandbox.instances import VirtualLauncher

    launcher, reason, status = build_launcher(
        parse_args([]), tmp_path, check=lambda: "/usr/sbin/sshd is not installed"
    )
    err = capsys.readouterr().err
    assert isinstance(launcher, VirtualLauncher)
    assert (reason, status) == ("/usr/sbin/sshd is not installed", "STATUS_ERROR")
    assert err.count("\n") == 1 and "sshd is not installed" in err


def test_a_state_directory_overlayfs_cannot_name_is_refused_in_one_line(tmp_path, capsys):
    from flow_notebook.sandbox.__main__ import build_launcher, parse_args
    from flow_notebook.sandbox.instances import VirtualLauncher

    root = tmp_path / "a,b"
    launcher, reason, status = build_launcher(parse_args([]), root, check=lambda: None)
    err = capsys.readouterr().err
    assert isinstance(launcher, VirtualLauncher) and status == "STATUS_ERROR"
    assert reason == f"the state directory {root} holds ',', which overlayfs cannot take in a path"
    assert err.count("\n") == 1 and reason in err
