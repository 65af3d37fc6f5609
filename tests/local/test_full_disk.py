"""A command that fills the disk does not cost its exit code (the record's space is kept).

The supervisor runs in a private mount namespace on a 512 KiB tmpfs, so the host is
untouched; the command fills that file system, then fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUPERVISOR = "flow_notebook.providers.local.supervisor"


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_a_task_that_fills_the_disk_still_records_its_exit_code(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test needs root for a private tmpfs (mount namespace)")
    mount = tmp_path / "disk"
    mount.mkdir()
    fill = "head -c 4M /dev/zero > big; echo after-fill; exit 7"
    spec = {"argv": ["sh", "-c", fill], "cwd": f"{mount}/task/work", "max_seconds": None}
    script = (
        f"mount -t tmpfs -o size=512k tmpfs {mount} && "
        f"mkdir -p {mount}/task/work && "
        f"printf '%s' '{json.dumps(spec)}' > {mount}/task/spec.json && "
        f"{sys.executable} -m {SUPERVISOR} {mount}/task; "
        f"echo \"df=$(df -k {mount} | tail -1 | tr -s ' ' | cut -d' ' -f4)\"; "
        f"cat {mount}/task/exit.json"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert "df=0" in lines, f"the disk was full: {done.stdout} {done.stderr}"
    record = json.loads(lines[-1])
    assert (record["exit_code"], record["reason"]) == (7, "exited")
