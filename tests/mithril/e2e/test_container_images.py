"""``--image`` on the sandbox: the runner pulls and runs the command through the instance's
emulated ``docker``, which records every call (checked on the instance over SSH)."""

from __future__ import annotations

import hashlib
import json
import shlex

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskConfig, TaskStatus, VolumeSpec
from flow_notebook.notebook.surfaces import header_text
from flow_notebook.providers.mithril.runtime.startup_builder import StartupScriptBuilder
from flow_notebook.sandbox.testing import ssh_run, wait_for

IMAGE = "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime"
CALLS = "/var/lib/docker-emulation/calls.jsonl"
SECRET = "s3cr3t-Value-4711"
REGISTRY = "registry.sandbox.test:5000"
PRIVATE_IMAGE = f"{REGISTRY}/team/trainer:1.0"
REGISTRY_PASSWORD = "reg-Pass-0815"

# Prints what the "container" sees; the secret only as a hash.
PROBE = (
    "import hashlib, json, os\n"
    "mounts = [line.split()[4] for line in open('/proc/self/mountinfo')]\n"
    "open('/data/written', 'w').write('from the image')\n"
    "print(json.dumps({\n"
    "  'cwd': os.getcwd(),\n"
    "  'names': sorted(os.environ),\n"
    "  'plain': os.environ.get('PLAIN'),\n"
    "  'token': hashlib.sha256(os.environ.get('TOKEN', '').encode()).hexdigest(),\n"
    "  'code': open('hello.txt').read(),\n"
    "  'mounts': [m for m in mounts if m in ('/data', '/workspace')],\n"
    "}))\n"
)


def _calls(remote, task_id):
    text = remote.execute_command(task_id, f"sudo -n cat {CALLS}")
    return text, [json.loads(line)["argv"] for line in text.splitlines()]


def test_image_gets_the_mounts_working_directory_and_environment_exactly(provider, tmp_path, waits):
    code = tmp_path / "code"
    code.mkdir()
    (code / "hello.txt").write_text("synced code\n")
    (code / "probe.py").write_text(PROBE)
    plain = "two words 'quoted' $HOME;`id`"
    volume = provider.create_volume(1, name="image-e2e", interface="file")
    config = TaskConfig(
        name="in-image",
        command="python3 probe.py",
        image=IMAGE,
        env={"PLAIN": plain},
        secrets={"TOKEN": SECRET},
        volumes=[VolumeSpec(volume_id=volume.volume_id, mount_path="/data")],
        upload_code=True,
        code_root=code,
        keep_alive=True,  # the instance stays up so its docker record can be read
    )
    try:
        task = provider.submit_task("", config)
        assert task.metadata["image"] == IMAGE
        waits.provisioned(provider, task.task_id)
        remote = provider.get_remote_operations()
        wait_for(
            lambda: remote.execute_command(task.task_id, "cat /var/log/flow/exit_code || true"),
            timeout=40,
            interval=0.3,
        )
        assert provider.get_task(task.task_id).metadata["image"] == IMAGE  # kept, as status shows
        seen = json.loads(provider.get_task_logs(task.task_id))
        assert seen["cwd"] == "/workspace"
        assert seen["plain"] == plain
        assert seen["token"] == hashlib.sha256(SECRET.encode()).hexdigest()
        assert seen["code"] == "synced code\n"
        outside = remote.execute_command(
            task.task_id, "awk '{print $5}' /proc/self/mountinfo"
        ).split()
        for path in ("/data", "/workspace"):  # docker's bind on top of the instance's
            assert seen["mounts"].count(path) == outside.count(path) + 1, (path, outside)
        expected_names = {"FLOW_TASK_NAME", "PLAIN", "TOKEN", "FLOW_NODE_RANK"}
        expected_names |= {"FLOW_NUM_NODES", "FLOW_MAIN_IP", "MASTER_ADDR"}
        # A container's environment: what was passed, nothing else of the runner's
        # (bash and python add a few of their own).
        own = {"SHLVL", "_", "PWD", "LC_CTYPE"}
        assert set(seen["names"]) - own == expected_names | {"PATH", "HOSTNAME", "HOME"}
        written = remote.execute_command(
            task.task_id, f"cat /mnt/volumes/{volume.volume_id}/written"
        )
        assert written == "from the image"

        text, calls = _calls(remote, task.task_id)
        assert calls[0] == ["pull", "--", IMAGE]
        env_options = [
            part
            for name in ("FLOW_TASK_NAME", "PLAIN", *expected_names - {"FLOW_TASK_NAME", "PLAIN"})
            for part in ("-e", name)
        ]
        run = calls[1]
        assert run[: run.index("-e")] == [
            "run", "--rm", "--init", "--gpus", "all", "--network", "host", "--ipc", "host",
            "--pull", "never", "-w", "/workspace",
            "-v", "/data:/data", "-v", "/workspace:/workspace",
        ]  # fmt: skip
        options = run[run.index("-e") : run.index("--")]
        assert sorted(zip(options[::2], options[1::2], strict=True)) == sorted(
            zip(env_options[::2], env_options[1::2], strict=True)
        )
        assert run[run.index("--") + 1 :] == [
            IMAGE,
            "sh",
            "-c",
            'if command -v bash >/dev/null 2>&1; then exec bash -c "$1"; fi; exec sh -c "$1"',
            "sh",
            "python3 probe.py",
        ]
        assert len(calls) == 2
        assert SECRET not in text
        logs = remote.execute_command(
            task.task_id, "sudo -n cat /var/log/flow/runner.log /var/log/flow/stderr.log"
        )
        assert SECRET not in logs and "Downloaded newer image" in logs
    finally:
        provider.cancel_task(task.task_id)
        waits.ended(provider, task.task_id)
        provider.delete_volume(volume.volume_id)


def test_a_private_registry_pulls_with_the_secrets_and_a_refused_login_is_one_line(
    provider, mithril_sandbox, waits
):
    mithril_sandbox.add_registry(REGISTRY, "ci-bot", REGISTRY_PASSWORD)
    runs = {
        "right": {"FLOW_REGISTRY_USER": "ci-bot", "FLOW_REGISTRY_PASSWORD": REGISTRY_PASSWORD},
        "wrong": {"FLOW_REGISTRY_USER": "ci-bot", "FLOW_REGISTRY_PASSWORD": "not-it-9"},
        "none": {},
    }
    # Kept alive, so the logs are read from the instances (cancelled below).
    tasks = {
        name: provider.submit_task(
            "",
            TaskConfig(
                name=f"registry-{name}",
                command="echo pulled",
                image=PRIVATE_IMAGE,
                secrets=secrets,
                keep_alive=True,
            ),
        )
        for name, secrets in runs.items()
    }
    try:
        _check_registry_runs(provider, waits, tasks)
    finally:
        for task in tasks.values():
            provider.cancel_task(task.task_id)


def _check_registry_runs(provider, waits, tasks):
    ended = {name: waits.ended(provider, task.task_id) for name, task in tasks.items()}

    assert ended["right"].status is TaskStatus.COMPLETED
    assert provider.get_task_logs(tasks["right"].task_id) == "pulled"
    assert ended["wrong"].status is TaskStatus.FAILED
    assert provider.get_task_logs(tasks["wrong"].task_id, log_type="stderr") == (
        f"flow: the registry {REGISTRY} refused the login for {PRIVATE_IMAGE}"
        " (check the secrets FLOW_REGISTRY_USER and FLOW_REGISTRY_PASSWORD)"
    )
    assert ended["none"].status is TaskStatus.FAILED
    assert provider.get_task_logs(tasks["none"].task_id, log_type="stderr") == (
        f"flow: pulling {PRIVATE_IMAGE} needs a registry login: pass the secrets"
        " FLOW_REGISTRY_USER and FLOW_REGISTRY_PASSWORD"
    )
    for task in ended.values():
        for text in (repr(task), task.message or "", str(task.metadata)):
            assert REGISTRY_PASSWORD not in text and "not-it-9" not in text


def test_an_image_name_with_shell_characters_is_refused_before_any_bid(provider, mithril_sandbox):
    before = mithril_sandbox.api(
        "GET", "/v2/spot/bids", params={"project": mithril_sandbox.project}
    )
    with pytest.raises(ValidationError) as caught:
        provider.submit_task("", TaskConfig(command="true", image="ubuntu;touch /tmp/owned"))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("not a container image reference: 'ubuntu;touch")
    after = mithril_sandbox.api("GET", "/v2/spot/bids", params={"project": mithril_sandbox.project})
    assert len(after.json()["data"]) == len(before.json()["data"])


def test_an_image_name_with_shell_characters_reaches_docker_as_one_argument(
    mithril_sandbox, require_ssh, tmp_path
):
    # Past the submitter's check (a script built directly): the runner alone must hold.
    bad = "ubuntu:22.04;touch /tmp/owned-1 $(touch /tmp/owned-2) `touch /tmp/owned-3`"
    config = TaskConfig(command="touch /tmp/owned-4", image=bad)
    script = StartupScriptBuilder().build(config)
    key_fid, key_path = mithril_sandbox.new_ssh_key(tmp_path, name="image-shell")
    bid = mithril_sandbox.place_bid(name="image-shell", ssh_keys=[key_fid], script=script)
    try:
        [instance] = mithril_sandbox.running_instances(bid["fid"])
        destination = instance["ssh_destination"]

        def done() -> str:
            result = ssh_run(destination, key_path, "cat /var/log/flow/exit_code 2>/dev/null")
            return result.stdout.strip()

        assert wait_for(done, timeout=30, interval=0.3) == "1"
        calls = ssh_run(destination, key_path, f"cat {CALLS}").stdout
        assert [json.loads(line)["argv"] for line in calls.splitlines()] == [["pull", "--", bad]]
        owned = ssh_run(destination, key_path, "ls /tmp/owned-* 2>/dev/null | wc -l").stdout
        assert owned.strip() == "0"
        stderr = ssh_run(destination, key_path, "cat /var/log/flow/stderr.log").stdout
        assert stderr == f"flow: cannot pull {bad}: invalid reference format\n"
    finally:
        mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")


def test_the_header_shows_an_image_pull_while_the_runner_is_in_it(provider, waits):
    task = provider.submit_task("", TaskConfig(command="sleep 300", keep_alive=True))
    try:
        waits.status(provider, task.task_id, {"running"})
        remote = provider.get_remote_operations()
        phase = shlex.quote(f"pulling image {IMAGE}")
        remote.execute_command(task.task_id, f"printf '%s\\n' {phase} >/var/log/flow/phase")
        seen = provider.get_task(task.task_id)
        assert (seen.status, seen.message) == (TaskStatus.PROVISIONING, f"pulling image {IMAGE}")
        assert f"provisioning (pulling image {IMAGE})" in header_text(seen)
        remote.execute_command(task.task_id, "rm /var/log/flow/phase")
        assert provider.get_task(task.task_id).status is TaskStatus.RUNNING
    finally:
        provider.cancel_task(task.task_id)


def test_the_run_time_limit_stops_a_command_running_in_an_image(provider, mithril_sandbox, waits):
    config = TaskConfig(command="sleep 600", image=IMAGE, max_run_time_hours=6 / 3600)
    task = provider.submit_task("", config)
    waits.ended(provider, task.task_id, timeout=60)
    [instance] = mithril_sandbox.api("GET", f"/v2/spot/bids/{task.task_id}").json()["instances"]
    logs = mithril_sandbox.root / "instances" / instance / "var_log_flow"  # kept after the end
    assert (logs / "exit_code").read_text() == "124\n"
    assert "stopped after reaching the run-time limit (6s)" in (logs / "stderr.log").read_text()


def test_a_cell_script_runs_in_the_image_with_its_python_and_bash(provider, waits):
    scripts = {
        "python": "import os, sys\nprint(os.getcwd(), sys.argv[0])",
        "bash": 'echo "$PWD $0"',
    }
    tasks = {
        interpreter: provider.submit_task(
            "", TaskConfig(script=body, interpreter=interpreter, image=IMAGE, keep_alive=True)
        )
        for interpreter, body in scripts.items()
    }
    try:
        for task in tasks.values():
            assert waits.ended(provider, task.task_id).status is TaskStatus.COMPLETED
            # The script is bound read-only into the container at its own path.
            assert provider.get_task_logs(task.task_id) == "/workspace /var/log/flow/user_script"
    finally:
        for task in tasks.values():
            provider.cancel_task(task.task_id)
