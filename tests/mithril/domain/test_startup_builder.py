"""Runs generated startup scripts with bash under a temporary root."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout, render_rank_file
from flow_notebook.providers.mithril.runtime.startup_builder import (
    CodeFetch,
    StartupScriptBuilder,
    VolumeMount,
    render_secrets,
)

DUMP_ENV = [sys.executable, "-c", "import json, os, sys; json.dump(dict(os.environ), sys.stdout)"]

INJECTION_CORPUS = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "a\nFLOW_RUNNER_EOF\ntouch PWNED",
    "line1\nline2\n",
    "\\$HOME \\' \\\" \\\\",
    "$HOME ${PATH} $$ $? $!",
    "* ? [a-z] ~ { } | & ; < > ( )",
    "--help",
    "-e",
    "über ✓ 中文",
    "",
]


def _run(script: str, root: Path, *, timeout: float = 20, unshare: bool = False) -> int:
    path = root / "startup.sh"
    path.write_text(script)
    argv = ["bash", str(path)]
    if unshare:
        argv = ["unshare", "-m", "--propagation", "private", *argv]
    canary = root / "cwd"
    canary.mkdir(exist_ok=True)
    result = subprocess.run(argv, cwd=canary, timeout=timeout, capture_output=True, text=True)
    return result.returncode


def _layout(root: Path) -> RuntimeLayout:
    return RuntimeLayout(str(root / "inst"))


def _builder(root: Path, **kwargs) -> StartupScriptBuilder:
    kwargs.setdefault("detach", False)
    kwargs.setdefault("poll_seconds", 0.05)
    return StartupScriptBuilder(_layout(root), **kwargs)


def _assert_no_injection(root: Path) -> None:
    assert not list(root.rglob("PWNED")), "a shell metacharacter escaped its quoting"


def test_command_output_goes_to_logs_and_exit_code_is_recorded(tmp_path):
    config = TaskConfig(command="echo out; echo err >&2; exit 3")
    rc = _run(_builder(tmp_path).build(config), tmp_path)
    lay = _layout(tmp_path)
    assert rc == 3
    assert Path(lay.stdout_log).read_text() == "out\n"
    assert Path(lay.stderr_log).read_text() == "err\n"
    assert Path(lay.exit_code_file).read_text() == "3\n"
    assert Path(lay.started_marker).exists()
    assert Path(lay.done_marker).exists()


def test_command_runs_in_the_working_directory(tmp_path):
    config = TaskConfig(command=["pwd"], working_dir="/workspace/project")
    assert _run(_builder(tmp_path).build(config), tmp_path) == 0
    lay = _layout(tmp_path)
    assert Path(lay.stdout_log).read_text().strip() == lay.at("/workspace/project")


@pytest.mark.parametrize("value", INJECTION_CORPUS)
def test_env_and_secret_values_arrive_verbatim_without_injection(tmp_path, value):
    config = TaskConfig(command=DUMP_ENV, env={"PLAIN": value}, secrets={"TOKEN": value})
    _deliver_secrets(tmp_path, config)  # as the provider does over SSH after boot
    assert _run(_builder(tmp_path).build(config), tmp_path) == 0
    env = json.loads(Path(_layout(tmp_path).stdout_log).read_text())
    assert env["PLAIN"] == value
    assert env["TOKEN"] == value
    assert env["FLOW_NODE_RANK"] == "0" and env["FLOW_NUM_NODES"] == "1"
    _assert_no_injection(tmp_path)


def _deliver_secrets(root: Path, config: TaskConfig) -> None:
    path = Path(_layout(root).secrets_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_secrets(config))
    path.chmod(0o600)


def test_secret_values_are_never_in_the_startup_script(tmp_path):
    config = TaskConfig(command="true", secrets={"TOKEN": "s3cret-value", "B": "other"})
    script = _builder(tmp_path).build(config)
    assert "s3cret-value" not in script and "other" not in script


def test_secrets_that_never_arrive_fail_the_task_with_one_line(tmp_path):
    config = TaskConfig(command="echo ran", secrets={"TOKEN": "x"})
    script = _builder(tmp_path, secrets_wait_seconds=1, poll_seconds=0.1).build(config)
    assert _run(script, tmp_path) != 0 or Path(_layout(tmp_path).exit_code_file).exists()
    lay = _layout(tmp_path)
    assert Path(lay.exit_code_file).read_text().strip() == "1"
    assert "secrets did not arrive within 1s" in Path(lay.stderr_log).read_text()
    assert "ran" not in Path(lay.stdout_log).read_text() if Path(lay.stdout_log).exists() else True


@pytest.mark.parametrize("value", [v for v in INJECTION_CORPUS if v])
def test_argv_and_shell_string_commands_keep_every_character(tmp_path, value):
    argv_config = TaskConfig(command=["printf", "%s", value])
    assert _run(_builder(tmp_path).build(argv_config), tmp_path) == 0
    shell_config = TaskConfig(command='printf %s "$V"', env={"V": value})
    assert _run(_builder(tmp_path).build(shell_config), tmp_path) == 0
    assert Path(_layout(tmp_path).stdout_log).read_text() == value + value
    _assert_no_injection(tmp_path)


@pytest.mark.parametrize("value", ["$(touch PWNED)", "`touch PWNED`", "a'b\"c d;touch PWNED"])
def test_working_dir_with_metacharacters_is_created_literally(tmp_path, value):
    config = TaskConfig(command=["pwd"], working_dir=f"/workspace/{value}")
    assert _run(_builder(tmp_path).build(config), tmp_path) == 0
    assert Path(_layout(tmp_path).at(f"/workspace/{value}")).is_dir()
    _assert_no_injection(tmp_path)


def test_python_script_body_runs_verbatim(tmp_path):
    body = "import sys\nprint('FLOW_RUNNER_EOF', '$(touch PWNED)')\nsys.exit(4)\n"
    config = TaskConfig(script=body, interpreter="python")
    assert _run(_builder(tmp_path).build(config), tmp_path) == 4
    assert Path(_layout(tmp_path).stdout_log).read_text() == "FLOW_RUNNER_EOF $(touch PWNED)\n"
    _assert_no_injection(tmp_path)


def test_bash_script_body_runs(tmp_path):
    config = TaskConfig(script="echo from-bash\n", interpreter="bash")
    assert _run(_builder(tmp_path).build(config), tmp_path) == 0
    assert Path(_layout(tmp_path).stdout_log).read_text() == "from-bash\n"


def test_secrets_are_not_echoed_and_runner_is_private(tmp_path):
    config = TaskConfig(command=["true"], secrets={"API_TOKEN": "s3cr3t-value"})
    _deliver_secrets(tmp_path, config)
    script = _builder(tmp_path).build(config)
    assert "s3cr3t-value" not in script
    path = tmp_path / "startup.sh"
    path.write_text(script)
    result = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0
    lay = _layout(tmp_path)
    assert "s3cr3t-value" not in result.stdout + result.stderr
    assert "s3cr3t-value" not in Path(lay.stdout_log).read_text()
    assert "s3cr3t-value" not in Path(lay.stderr_log).read_text()
    assert os.stat(lay.runner_script).st_mode & 0o777 == 0o700
    assert "set -x" not in script


def test_embedded_code_archive_is_unpacked_into_working_dir(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"print('hello from code')\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    config = TaskConfig(command=[sys.executable, "main.py"])
    script = _builder(tmp_path).build(config, code=CodeFetch.embedded(buffer.getvalue()))
    assert _run(script, tmp_path) == 0
    assert Path(_layout(tmp_path).stdout_log).read_text() == "hello from code\n"


def test_wait_for_code_proceeds_once_marker_exists(tmp_path):
    lay = _layout(tmp_path)
    Path(lay.log_dir).mkdir(parents=True)
    Path(lay.code_ready_marker).touch()
    config = TaskConfig(command=["echo", "ran"])
    script = _builder(tmp_path).build(config, code=CodeFetch.wait_for_upload(timeout_seconds=5))
    assert _run(script, tmp_path) == 0
    assert Path(lay.stdout_log).read_text() == "ran\n"


def test_wait_for_code_times_out_with_failure_recorded(tmp_path):
    config = TaskConfig(command=["echo", "never"])
    script = _builder(tmp_path).build(config, code=CodeFetch.wait_for_upload(timeout_seconds=1))
    started = time.monotonic()
    assert _run(script, tmp_path) == 1
    assert time.monotonic() - started < 10
    lay = _layout(tmp_path)
    assert Path(lay.exit_code_file).read_text() == "1\n"
    assert Path(lay.done_marker).exists()
    assert "code did not arrive within 1s" in Path(lay.stderr_log).read_text()
    assert not Path(lay.started_marker).exists()


def test_multi_node_task_reads_rank_from_rank_file(tmp_path):
    lay = _layout(tmp_path)
    Path(lay.log_dir).mkdir(parents=True)
    Path(lay.rank_file).write_text(render_rank_file(2, 4, "10.0.0.5"))
    config = TaskConfig(command=DUMP_ENV, num_instances=4)
    assert _run(_builder(tmp_path).build(config), tmp_path) == 0
    env = json.loads(Path(lay.stdout_log).read_text())
    assert (env["FLOW_NODE_RANK"], env["FLOW_NUM_NODES"], env["FLOW_MAIN_IP"]) == (
        "2",
        "4",
        "10.0.0.5",
    )
    assert env["MASTER_ADDR"] == "10.0.0.5"


def test_multi_node_task_fails_on_malformed_rank_file(tmp_path):
    lay = _layout(tmp_path)
    Path(lay.log_dir).mkdir(parents=True)
    Path(lay.rank_file).write_text("FLOW_NODE_RANK=$(touch PWNED)\nFLOW_MAIN_IP=1.2.3.4\n")
    config = TaskConfig(command=["true"], num_instances=2)
    assert _run(_builder(tmp_path).build(config), tmp_path) == 1
    assert "no valid FLOW_NODE_RANK" in Path(lay.stderr_log).read_text()
    _assert_no_injection(tmp_path)


def test_render_rank_file_rejects_bad_values():
    with pytest.raises(ValueError):
        render_rank_file(4, 4, "10.0.0.1")
    with pytest.raises(ValueError):
        render_rank_file(0, 2, "10.0.0.1\nFLOW_NODE_RANK=9")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="bind mounts need root"
)
def test_volume_is_bind_mounted_onto_mount_path(tmp_path):
    lay = _layout(tmp_path)
    volume_dir = Path(lay.volume_root) / "vol_abc123"
    volume_dir.mkdir(parents=True)
    (volume_dir / "data.txt").write_text("on the volume")
    mount_path = "/data/$(touch PWNED) dir"
    config = TaskConfig(command=["cat", f"{lay.at(mount_path)}/data.txt"])
    script = _builder(tmp_path).build(config, volumes=[VolumeMount("vol_abc123", mount_path)])
    assert _run(script, tmp_path, unshare=True) == 0
    assert Path(lay.stdout_log).read_text() == "on the volume"
    _assert_no_injection(tmp_path)


def test_missing_volume_fails_the_task_after_bounded_wait(tmp_path):
    config = TaskConfig(command=["true"])
    builder = _builder(tmp_path, volume_wait_seconds=1)
    script = builder.build(config, volumes=[VolumeMount("vol_missing", "/data")])
    assert _run(script, tmp_path) == 1
    assert "volume vol_missing did not appear" in Path(_layout(tmp_path).stderr_log).read_text()


@pytest.mark.parametrize(
    "volume",
    [VolumeMount("../etc", "/data"), VolumeMount("vol 1", "/data"), VolumeMount("v", "rel")],
)
def test_unsafe_volume_ids_and_paths_are_rejected(tmp_path, volume):
    with pytest.raises(ValidationError):
        _builder(tmp_path).build(TaskConfig(command=["true"]), volumes=[volume])


def test_detached_runner_lets_startup_script_return_while_task_runs(tmp_path):
    lay = _layout(tmp_path)
    release = tmp_path / "release"
    config = TaskConfig(command=f"while [ ! -e {release} ]; do sleep 0.05; done; echo finished")
    script = _builder(tmp_path, detach=True).build(config)
    try:
        assert _run(script, tmp_path, timeout=10) == 0
        assert not Path(lay.done_marker).exists()
    finally:
        release.touch()  # the detached runner ends once released, even if the test fails
    deadline = time.monotonic() + 10
    while not Path(lay.done_marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Path(lay.exit_code_file).read_text() == "0\n"
    assert Path(lay.stdout_log).read_text() == "finished\n"


def test_rerun_clears_markers_of_an_earlier_run(tmp_path):
    lay = _layout(tmp_path)
    Path(lay.log_dir).mkdir(parents=True)
    Path(lay.done_marker).touch()
    Path(lay.exit_code_file).write_text("9\n")
    script = _builder(tmp_path).build(TaskConfig(command=["true"]))
    assert _run(script, tmp_path) == 0
    assert Path(lay.exit_code_file).read_text() == "0\n"


def test_max_run_time_stops_the_command(tmp_path):
    config = TaskConfig(command=["true"], max_run_time_hours=1)
    assert "timeout -k 60 3600 true" in _builder(tmp_path).build(config)


FAKE_DOCKER = """#!{python}
import json, os, sys
phase = os.environ["FAKE_PHASE_FILE"]
seen = open(phase).read() if os.path.exists(phase) else None
with open(os.environ["FAKE_DOCKER_CALLS"], "a") as calls:
    calls.write(json.dumps({{"argv": sys.argv[1:], "phase": seen}}) + "\\n")
"""


@pytest.mark.parametrize("image", [name for name in INJECTION_CORPUS if name])
def test_an_image_reaches_docker_as_one_argument_and_its_pull_shows_as_the_phase(tmp_path, image):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "docker").write_text(FAKE_DOCKER.format(python=sys.executable))
    (fake_bin / "docker").chmod(0o755)
    lay, calls = _layout(tmp_path), tmp_path / "calls.jsonl"
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "FAKE_PHASE_FILE": lay.phase_file,
        "FAKE_DOCKER_CALLS": str(calls),
    }
    script = _builder(tmp_path).build(TaskConfig(command=["echo", image], image=image))
    (tmp_path / "startup.sh").write_text(script)
    done = subprocess.run(["bash", str(tmp_path / "startup.sh")], env=env, cwd=tmp_path, timeout=20)
    assert done.returncode == 0
    pull, run = [json.loads(line) for line in calls.read_text().splitlines()]
    assert pull == {"argv": ["pull", "--", image], "phase": f"pulling image {image}\n"}
    assert run["argv"][run["argv"].index("--") + 1 :] == [image, "echo", image]
    assert run["phase"] is None and not Path(lay.phase_file).exists()
    _assert_no_injection(tmp_path)
