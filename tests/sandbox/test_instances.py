"""Real sandbox instances: whole machines over plain ssh, rsync, volumes, clean teardown."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from flow_notebook.sandbox.rootfs import STANDARD_TOP_LEVEL
from flow_notebook.sandbox.testing import REGION, SSH_OPTIONS, wait_for

pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("require_ssh")]


@pytest.fixture
def key(mithril_sandbox, tmp_path):
    """A generated key registered in the default project: (fid, private key path)."""
    body = {"project": mithril_sandbox.project, "name": "test-key"}
    created = mithril_sandbox.api("POST", "/v2/ssh-keys", json=body).json()
    path = tmp_path / "id_key"
    path.write_text(created["private_key"])
    path.chmod(0o600)
    return created["fid"], path


def ssh(destination: str, key_path, command: str, user: str = "root") -> str:
    host, port = destination.split(":")
    result = subprocess.run(
        ["ssh", "-p", port, "-i", str(key_path), *SSH_OPTIONS, f"{user}@{host}", command],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def launch(sandbox, key, **kwargs):
    bid = sandbox.place_bid(price="$99.00", ssh_keys=[key[0]], **kwargs)
    return bid, sandbox.running_instances(bid["fid"])


def test_instance_accepts_plain_ssh_as_root_and_ubuntu_and_ran_its_startup_script(
    mithril_sandbox, key
):
    script = "#!/bin/bash\necho started on $MITHRIL_INSTANCE_FID\n"
    bid, [instance] = launch(mithril_sandbox, key, script=script)
    destination = instance["ssh_destination"]
    wait_for(
        lambda: "started" in ssh(destination, key[1], "cat /var/log/foundry/startup_script.log")
    )
    log = ssh(destination, key[1], "cat /var/log/foundry/startup_script.log")
    assert log.strip() == f"started on {instance['fid']}"
    assert ssh(destination, key[1], "id -un", user="ubuntu").strip() == "ubuntu"
    assert ssh(destination, key[1], "id -un").strip() == "root"
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")


def test_two_instances_see_their_own_workspace(mithril_sandbox, key):
    bid, instances = launch(mithril_sandbox, key, quantity=2)
    first, second = (i["ssh_destination"] for i in instances)
    ssh(first, key[1], "echo first > /workspace/who")
    ssh(second, key[1], "echo second > /workspace/who")
    assert ssh(first, key[1], "cat /workspace/who").strip() == "first"
    assert ssh(second, key[1], "cat /workspace/who").strip() == "second"
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")


def test_rsync_over_ssh_copies_a_directory_to_the_workspace(mithril_sandbox, key, tmp_path):
    bid, [instance] = launch(mithril_sandbox, key)
    source = tmp_path / "code"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "main.py").write_text("print('hi')\n")
    host, port = instance["ssh_destination"].split(":")
    shell = " ".join(["ssh", "-p", port, "-i", str(key[1]), *SSH_OPTIONS])
    subprocess.run(
        ["rsync", "-az", "-e", shell, f"{source}/", f"ubuntu@{host}:/workspace/code/"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert ssh(instance["ssh_destination"], key[1], "cat /workspace/code/pkg/main.py") == (
        "print('hi')\n"
    )
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")


def test_volume_written_by_one_bid_is_read_by_the_next(mithril_sandbox, key):
    body = {
        "project": mithril_sandbox.project,
        "name": "shared",
        "disk_interface": "File",
        "region": REGION,
        "size_gb": 1,
    }
    volume = mithril_sandbox.api("POST", "/v2/volumes", json=body).json()
    path = f"/mnt/volumes/{volume['fid']}/note"
    first, [one] = launch(mithril_sandbox, key, volumes=[volume["fid"]])
    ssh(one["ssh_destination"], key[1], f"echo kept > {path}", user="ubuntu")
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{first['fid']}")
    second, [two] = launch(mithril_sandbox, key, volumes=[volume["fid"]])
    assert ssh(two["ssh_destination"], key[1], f"cat {path}").strip() == "kept"
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{second['fid']}")
    assert mithril_sandbox.api("DELETE", f"/v2/volumes/{volume['fid']}").status_code == 204


def test_terminating_a_bid_leaves_no_process_behind(mithril_sandbox, key):
    bid, [instance] = launch(mithril_sandbox, key, script="sleep 600 &\nsleep 600\n")
    ssh(instance["ssh_destination"], key[1], "nohup sleep 700 >/dev/null 2>&1 &")
    pidns = (mithril_sandbox.root / "instances" / instance["fid"] / "pidns").read_text().strip()
    from flow_notebook.sandbox.procs import pids_in_namespace

    assert len(pids_in_namespace(pidns)) >= 4  # sshd, the script, two sleeps, ...
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")
    wait_for(lambda: not pids_in_namespace(pidns), timeout=10)
    disk = mithril_sandbox.root / "instances" / instance["fid"] / "upper"
    wait_for(lambda: not disk.exists(), timeout=10)
    [gone] = mithril_sandbox.instances_of(bid["fid"])
    assert gone["status"] == "STATUS_TERMINATED" and gone["ssh_destination"] is None


def test_paused_instance_is_unreachable_and_comes_back_with_its_workspace(mithril_sandbox, key):
    bid, [instance] = launch(mithril_sandbox, key)
    ssh(instance["ssh_destination"], key[1], "echo before > /workspace/state")
    ssh(instance["ssh_destination"], key[1], "echo kept > /etc/state && echo gone > /tmp/state")
    path = f"/v2/spot/bids/{bid['fid']}"
    mithril_sandbox.api("PATCH", path, json={"paused": True})
    [paused] = mithril_sandbox.instances_of(bid["fid"])
    assert paused["ssh_destination"] is None
    mithril_sandbox.api("PATCH", path, json={"paused": False})
    [back] = mithril_sandbox.running_instances(bid["fid"])
    assert ssh(back["ssh_destination"], key[1], "cat /workspace/state").strip() == "before"
    # Its disk survives the pause; /tmp starts empty on every boot.
    assert ssh(back["ssh_destination"], key[1], "cat /etc/state; ls /tmp") == "kept\n"
    mithril_sandbox.api("DELETE", path)


# What an instance does as root must stay on the instance: these host directories are
# compared entry by entry (name, mtime, size) before and after.
UNCHANGED_HOST_DIRS = ("/etc", "/etc/sudoers.d", "/usr/local", "/usr/local/bin", "/var/lib")
# Other programs on this machine create files here while the test runs: only the names
# the instances write are checked.
SHARED_HOST_DIRS = ("/tmp", "/run", "/root")


def snapshot(directory: str) -> dict[str, tuple[int, int]]:
    found = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            found[entry.name] = (info.st_mtime_ns, info.st_size)
    return found


def test_root_and_sudo_on_an_instance_change_nothing_on_the_host_or_the_other_instance(
    mithril_sandbox, key
):
    token = f"flow-probe-{uuid.uuid4().hex[:12]}"
    written = [f"{d}/{token}" for d in ("/etc", "/usr/local/bin", "/var/lib", *SHARED_HOST_DIRS)]
    environment = Path("/etc/environment").read_bytes()
    before = {d: snapshot(d) for d in UNCHANGED_HOST_DIRS}
    hostname = socket.gethostname()
    bid, instances = launch(mithril_sandbox, key, quantity=2)
    first, second = (i["ssh_destination"] for i in instances)
    assert first.startswith("localhost:")

    as_root = [f"echo root > {path}" for path in written]
    as_root += ["echo '# changed on an instance' >> /etc/environment", "rm /etc/issue.net"]
    as_root += [f"hostname {token}"]
    ssh(first, key[1], " && ".join(as_root))
    sudo = f"sudo -n sh -c 'id -u > /usr/local/{token}.sudo && id -u'"
    assert ssh(first, key[1], sudo, user="ubuntu").strip() == "0"
    written = sorted([*written, f"/usr/local/{token}.sudo"])

    listing = f"ls -d {' '.join(written)} /etc/issue.net 2>/dev/null; true"
    assert sorted(ssh(first, key[1], listing).split()) == written  # it sees its own writes
    assert ssh(second, key[1], listing).split() == ["/etc/issue.net"]
    assert not [path for path in written if os.path.lexists(path)]
    assert Path("/etc/issue.net").exists()
    assert Path("/etc/environment").read_bytes() == environment
    assert {d: snapshot(d) for d in UNCHANGED_HOST_DIRS} == before
    assert socket.gethostname() == hostname
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")


def test_instance_is_a_fresh_ubuntu_machine_that_reaches_the_sandbox_api(mithril_sandbox, key):
    bid, [instance] = launch(mithril_sandbox, key, script="echo booted as $(id -un)\n")
    destination = instance["ssh_destination"]
    assert ssh(destination, key[1], "sudo -n id -un", user="ubuntu").strip() == "root"
    assert ssh(destination, key[1], "id -Gn", user="ubuntu").split()[0] == "ubuntu"
    assert ssh(destination, key[1], "ls -A /tmp /home; echo $HOME") == (
        "/home:\nubuntu\n\n/tmp:\n/root\n"
    )
    # The host's own top-level extras (checkouts, tool directories) are not there.
    top = set(ssh(destination, key[1], "ls -A /").split())
    assert top <= STANDARD_TOP_LEVEL | {"workspace"} and {"etc", "usr", "workspace"} <= top
    wait_for(lambda: ssh(destination, key[1], "cat /var/log/foundry/startup_script.log"))
    assert ssh(destination, key[1], "cat /var/log/foundry/startup_script.log") == (
        "booted as root\n"
    )
    me = (
        "import os, urllib.request as r; q = r.Request(os.environ['URL'] + '/v2/me',"
        " headers={'Authorization': 'Bearer ' + os.environ['KEY']});"
        " print(r.urlopen(q, timeout=10).status)"
    )
    command = f'URL={mithril_sandbox.url} KEY={mithril_sandbox.api_key} python3 -c "{me}"'
    assert ssh(destination, key[1], command, user="ubuntu").strip() == "200"
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")


def test_instance_has_no_systemd_tools_that_can_only_fail(mithril_sandbox, key):
    bid, [instance] = launch(mithril_sandbox, key)
    command = "command -v systemctl systemd-run; echo found=$?"
    assert ssh(instance["ssh_destination"], key[1], command).strip() == "found=1"
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")
