"""An instance's disk hides what a fresh machine would not have: host extras, sandbox state."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flow_notebook.sandbox.rootfs import HOST_KEY, STANDARD_TOP_LEVEL, RootDisk

# Whiteouts (device files) and trusted.* attributes need root, as real instances do.
pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("require_ssh")]


def is_whiteout(path: Path) -> bool:
    info = path.lstat()
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(0, 0)


def test_a_new_disk_hides_host_extras_and_the_sandbox_state_and_has_its_own_host_key(tmp_path):
    disk = RootDisk(tmp_path / "inst")
    state = Path("/usr/share/doc")  # stands for a sandbox root below a visible directory

    disk.create(hidden=[state, tmp_path])

    extras = [e for e in os.listdir("/") if e not in STANDARD_TOP_LEVEL | {"workspace"}]
    assert all(is_whiteout(disk.inside(e)) for e in extras)
    assert is_whiteout(disk.inside(str(state)))
    assert not disk.inside(str(tmp_path)).exists()  # /tmp is empty on an instance anyway
    for private in ("/home", "/root", "/mnt"):
        assert os.getxattr(disk.inside(private), "trusted.overlay.opaque") == b"y"
    key = disk.inside(HOST_KEY)
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert Path("/usr/share/doc").is_dir()  # the host's own directory is untouched
