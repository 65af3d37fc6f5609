"""Files and keys: contained downloads, uploads that do not leave their tree, 0600 key
files, and host keys trusted on first use per instance, on real sandbox instances.
"""

from __future__ import annotations

import stat

import pytest

from flow_notebook.core.errors import (
    FlowError,
    HostKeyMismatchError,
    RemoteOperationError,
    ValidationError,
)
from flow_notebook.core.models import TaskConfig, VolumeSpec
from flow_notebook.sandbox.testing import wait_for

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def running(ssh_sandbox, providers, waits):
    """A provider and a long task with a volume, running on a real instance."""
    provider = providers.provider(ssh_sandbox)
    config = TaskConfig(
        name="files",
        command="mkdir -p /workspace/out/sub && echo data > /workspace/out/sub/a.txt"
        " && ln -s /etc /workspace/out/etc-link && ln -s /etc/passwd /workspace/out/pw"
        " && echo vol > /data/in-volume.txt && sleep 120",
        volumes=[VolumeSpec(name="safety", size_gb=1, mount_path="/data")],
    )
    task = provider.submit_task("a100", config)
    instance = waits(provider, task.task_id, {"running"}).instances[0]
    remote = provider.get_remote_operations()
    remote.execute_command(task.task_id, "until [ -e /data/in-volume.txt ]; do sleep 0.1; done")
    yield provider, task, instance
    provider.cancel_task(task.task_id)


def test_downloads_stay_inside_the_target_directory(running, tmp_path):
    provider, task, _ = running
    remote = provider.get_remote_operations()
    target = tmp_path / "dl"
    target.mkdir()

    for name in ("../escaped.txt", "../../escaped.txt", "/tmp/escaped.txt", "sub/../../x"):
        with pytest.raises(FlowError, match="outside the download directory"):
            remote.download_file(task.task_id, "/workspace/out/sub/a.txt", target, name=name)
    # A local symlink cannot redirect a download out of the directory either.
    (target / "sub").symlink_to(tmp_path)
    with pytest.raises(FlowError, match="outside the download directory"):
        remote.download_directory(task.task_id, "/workspace/out", target)
    (target / "sub").unlink()

    written = remote.download_directory(task.task_id, "/workspace/out", target)

    # Remote symlinks (to /etc and /etc/passwd) are not followed.
    assert [p.relative_to(target).as_posix() for p in written] == ["sub/a.txt"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "dl", "sub"]


def test_volume_paths_cannot_leave_the_volume(running, tmp_path):
    provider, _, _ = running
    volume = next(v for v in provider.list_volumes() if v.name == "safety")
    for bad in ("../../../etc/passwd", "/etc/passwd", "a/../../b"):
        with pytest.raises(ValidationError, match="stay inside the volume"):
            provider.download_file(volume.volume_id, bad, tmp_path)
    assert provider.download_file(volume.volume_id, "in-volume.txt", tmp_path)
    assert (tmp_path / "in-volume.txt").read_text() == "vol\n"


def test_uploads_refuse_symlinks_out_of_the_tree_unless_asked(running, tmp_path, ssh_sandbox):
    provider, task, instance = running
    remote = provider.get_remote_operations()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("not for upload")
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("print(1)\n")
    (code / "inner.py").symlink_to(code / "main.py")  # inside the tree: fine
    (code / "leak").symlink_to(outside)

    with pytest.raises(ValidationError, match="points outside"):
        remote.upload_directory(task.task_id, code, "/workspace/up")
    with pytest.raises(ValidationError, match="points outside"):
        provider.sync_code(task.task_id, code)
    landed = ssh_sandbox.root / "instances" / instance / "workspace"
    assert not list(landed.rglob("private.txt"))

    remote.upload_directory(task.task_id, code, "/workspace/up", follow_external_symlinks=True)
    assert (landed / "up" / "leak" / "private.txt").read_text() == "not for upload"
    assert (landed / "up" / "inner.py").read_text() == "print(1)\n"


def test_private_keys_and_the_config_holding_the_api_key_are_mode_0600(
    running, isolated_flow_home, shell_magics
):
    provider, _, _ = running
    created = provider.create_ssh_key("generated-here")
    shell = shell_magics(provider, secret_prompt=lambda name: "fkey_RELIABILITY_0600")
    shell.run_line_magic("flow", "config api_key")

    key_files = [p for p in isolated_flow_home.rglob("*") if p.is_file() and _holds_key(p)]
    assert created["private_key_path"] in {str(p) for p in key_files}
    assert isolated_flow_home / "config.yaml" in key_files
    assert len(key_files) >= 3  # the login key, the generated key, the config
    assert {p: oct(stat.S_IMODE(p.stat().st_mode)) for p in key_files} == {
        p: "0o600" for p in key_files
    }


def test_a_changed_host_key_is_refused_with_how_to_proceed(running, ssh_sandbox, instances):
    provider, task, instance = running
    remote = provider.get_remote_operations()
    assert remote.execute_command(task.task_id, "echo first").strip() == "first"  # recorded

    # The machine gets a new host key, as a rebuilt instance would.
    key = "/etc/ssh/ssh_host_ed25519_key"
    renew = f"rm -f {key} {key}.pub && ssh-keygen -q -t ed25519 -N '' -f {key}"
    remote.execute_command(task.task_id, f'sudo -n sh -c "{renew}"')
    instances.cut(instance)  # sshd re-executes with the new key; pooled connections drop

    def refused() -> HostKeyMismatchError | None:
        try:
            remote.execute_command(task.task_id, "echo second")
        except HostKeyMismatchError as exc:
            return exc
        except RemoteOperationError as exc:
            assert "nothing accepts SSH connections" in str(exc)  # sshd still restarting
            return None
        raise AssertionError("a changed host key was accepted")

    message = str(wait_for(refused, timeout=10, interval=0.1))
    assert "different SSH host key" in message and instance in message
    assert "delete the" in message and "host_keys.json" in message and "\n" not in message


def _holds_key(path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return "PRIVATE KEY" in text or "api_key" in text
