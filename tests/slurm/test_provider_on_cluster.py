"""The Slurm provider against a real two-node Slurm cluster, reached over SSH."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from flow_notebook.core.config import load_config
from flow_notebook.core.errors import TaskStateError, ValidationError
from flow_notebook.core.models import Task, TaskConfig, TaskStatus
from flow_notebook.providers.slurm.provider import SlurmProvider
from flow_notebook.providers.slurm.testing import ClusterHandle
from flow_notebook.sandbox.testing import wait_for

from .conftest import wait_ended, wait_status


@pytest.fixture(scope="module", autouse=True)
def timeout_task(slurm_cluster: ClusterHandle, tmp_path_factory: pytest.TempPathFactory):
    """A task with a one-minute limit, submitted first; checked by the last test."""
    env = {**slurm_cluster.env, "FLOW_HOME": str(tmp_path_factory.mktemp("timeout_home"))}
    provider = SlurmProvider.from_config(load_config(env), env)
    config = TaskConfig(name="slow", command="echo slow started; sleep 600")
    task = provider.submit_task("", config.model_copy(update={"max_run_time_hours": 1 / 60}))
    yield provider, task.task_id
    provider.cancel_task(task.task_id)
    provider.close()


def test_submit_waits_in_the_queue_with_its_reason_then_runs_and_completes(make_provider):
    provider = make_provider()
    blocker = provider.submit_task(
        "2xa100", TaskConfig(name="blocker", command="sleep 300", num_instances=2)
    )
    wait_status(provider, blocker.task_id, {"running"})
    config = TaskConfig(name="hello", command="echo line-1; echo line-2; exit 0")
    task = provider.submit_task(provider.resolve_instance_type("a100"), config)

    # Slurm gives the reason once its scheduler has looked at the job.
    queued = wait_for(lambda: _reason_given(provider.get_task(task.task_id)), timeout=30)
    assert (queued.status, queued.message) == (TaskStatus.PENDING, "PENDING (Resources)")
    assert provider.cancel_task(blocker.task_id) is True

    lines = list(provider.stream_task_logs(task.task_id))
    assert lines == ["line-1", "line-2"]
    done = wait_ended(provider, task.task_id)
    assert (done.status, done.exit_code) == (TaskStatus.COMPLETED, 0)
    assert done.instance_type == "1xa100" and done.region == "gpu"
    assert done.started_at is not None and done.completed_at is not None
    # Another kernel (a new provider on the same FLOW_HOME) lists it with its end.
    listed = {t.task_id: t for t in make_provider().list_tasks()}
    assert listed[task.task_id].status is TaskStatus.COMPLETED
    assert listed[blocker.task_id].status is TaskStatus.CANCELLED


def test_a_failing_job_reports_its_exit_code_and_stderr(provider):
    config = TaskConfig(name="fails", command="echo out; echo broke >&2; exit 3")
    task = provider.submit_task("", config)
    done = wait_ended(provider, task.task_id)
    assert (done.status, done.exit_code) == (TaskStatus.FAILED, 3)
    assert provider.get_task_logs(task.task_id, log_type="stdout") == "out"
    assert provider.get_task_logs(task.task_id, log_type="stderr") == "broke"


def test_cancel_ends_a_running_job_and_its_log_follow(provider):
    task = provider.submit_task("", TaskConfig(name="long", command="echo started; sleep 300"))
    follow = provider.stream_task_logs(task.task_id) if _running(provider, task.task_id) else None
    assert follow is not None and next(follow) == "started"
    assert provider.stop_task(task.task_id) is True
    assert list(follow) == []  # the follow ends by itself
    done = wait_ended(provider, task.task_id)
    assert done.status is TaskStatus.CANCELLED
    assert done.metadata["slurm_state"] == "CANCELLED"
    assert provider.stop_task(task.task_id) is False


def test_a_two_node_job_sees_rank_0_and_1_and_the_main_address(provider):
    command = 'echo "rank=$FLOW_NODE_RANK of $FLOW_NUM_NODES main=$MASTER_ADDR"'
    instance_type, nodes, warning = provider.normalize_instance_request(4, "a100")
    assert (instance_type, nodes, warning) == ("2xa100", 2, None)
    config = TaskConfig(name="ranks", command=command, num_instances=nodes)
    task = provider.submit_task(instance_type, config)
    assert wait_ended(provider, task.task_id).exit_code == 0
    lines = sorted(provider.get_task_logs(task.task_id).splitlines())
    assert lines == ["rank=0 of 2 main=127.0.0.1", "rank=1 of 2 main=127.0.0.1"]
    assert [i.instance_id for i in provider.get_task_instances(task.task_id)] == [
        f"{task.task_id}-node0",
        f"{task.task_id}-node1",
    ]


def test_env_and_secrets_reach_the_job_but_not_its_script_or_scontrol(
    provider, slurm_cluster: ClusterHandle
):
    config = TaskConfig(
        name="secret",
        command='echo "$PLAIN ${#TOKEN}"; sleep 30',
        env={"PLAIN": "visible"},
        secrets={"TOKEN": SecretStr("s3cr3t-value")},
    )
    task = provider.submit_task("", config)
    assert _running(provider, task.task_id)
    assert next(provider.stream_task_logs(task.task_id)) == "visible 12"
    job_id = task.metadata["job_id"]
    shown = slurm_cluster.command("scontrol", "show", "job", "-dd", job_id)
    script = slurm_cluster.command("scontrol", "write", "batch_script", job_id, "-")
    task_dir = Path(provider.get_task(task.task_id).metadata["work_dir"]).parent
    on_disk = "".join(p.read_text() for p in task_dir.iterdir() if p.is_file())
    for text in (shown, script, on_disk):
        assert "s3cr3t-value" not in text
    assert "#SBATCH --gres" not in script  # a CPU task asks for no GPU


def test_code_is_uploaded_then_resynced_by_delta(provider, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "weights.bin").write_bytes(bytes(range(256)) * 400)
    (code / "mod.py").write_text("VALUE = 1\n")
    config = TaskConfig(
        name="code",
        command="python3 -c 'import mod; print(mod.VALUE)'; sleep 300",
        upload_code=True,
        code_root=code,
    )
    task = provider.submit_task("", config)
    assert task.metadata["code_files"] == 2
    assert _running(provider, task.task_id)
    assert next(provider.stream_task_logs(task.task_id)) == "1"

    (code / "mod.py").write_text("VALUE = 'changed'\n")
    report = provider.sync_code(task.task_id, code)
    assert (report["files"], report["files_total"]) == (1, 2)
    assert 0 < report["bytes"] < 5_000  # the delta, not the 100 kB file
    remote = provider.get_remote_operations()
    assert remote.execute_command(task.task_id, "cat mod.py") == "VALUE = 'changed'\n"
    assert provider.sync_code(task.task_id, code)["files"] == 0


def test_a_new_provider_resumes_following_from_the_line_reached(make_provider):
    first = make_provider()
    command = "for i in 1 2 3; do echo n$i; done; sleep 3; echo n4; echo n5"
    task = first.submit_task("", TaskConfig(name="resume", command=command))
    assert _running(first, task.task_id)
    follow = first.stream_task_logs(task.task_id)
    assert [next(follow) for _ in range(3)] == ["n1", "n2", "n3"]
    follow.close()  # the kernel went away after three lines

    second = make_provider()
    assert list(second.stream_task_logs_from(task.task_id, 3)) == ["n4", "n5"]
    assert wait_ended(second, task.task_id).exit_code == 0


def test_unknown_partition_or_gpu_type_is_one_line_naming_what_exists(provider):
    with pytest.raises(ValidationError) as gpu:
        provider.resolve_instance_type("h100")
    assert str(gpu.value) == "no partition has GPU type 'h100'; the cluster has: 2xa100 (gpu)"
    with pytest.raises(ValidationError) as part:
        provider.prepare_task_config(TaskConfig(command="true", region="bigmem"))
    assert str(part.value) == "unknown partition 'bigmem'; the cluster has: gpu"
    with pytest.raises(ValidationError) as many:
        provider.resolve_instance_type("4xa100")
    assert "more GPUs than a node of partition gpu has (2xa100)" in str(many.value)


def test_a_time_over_the_partition_limit_is_refused_in_one_line(provider):
    with pytest.raises(ValidationError) as refused:
        provider.submit_task("", TaskConfig(command="true", max_run_time_hours=3))
    assert str(refused.value) == ("--max-run-time 3:00:00 is over partition gpu's limit of 2:00:00")
    assert provider.list_tasks() == []


def test_slurms_own_refusal_is_one_line(provider, slurm_cluster: ClusterHandle):
    from flow_notebook.providers.slurm.jobs import JobService
    from flow_notebook.providers.slurm.login import LocalLogin

    jobs = JobService(LocalLogin())
    with pytest.raises(ValidationError) as refused:
        jobs.submit("/nonexistent/job.sh", {"SLURM_CONF": str(slurm_cluster.conf)})
    assert str(refused.value).startswith("Slurm refused the job: ")
    assert "\n" not in str(refused.value)


def test_find_instances_lists_the_partition_with_gpus_free_nodes_and_limits(provider):
    (offer,) = provider.find_instances({})
    assert (offer.region, offer.instance_type, offer.gpu_type, offer.gpu_count) == (
        "gpu",
        "2xa100",
        "a100",
        2,
    )
    assert offer.available_quantity == 2
    assert offer.status == "up, 2 nodes, max 2:00:00"
    assert provider.find_instances({"gpu_type": "h100"}) == []


def test_logs_of_a_task_not_started_yet_say_so(make_provider):
    provider = make_provider()
    config = TaskConfig(name="b", command="sleep 300", num_instances=2)
    blocker = provider.submit_task("2xa100", config)
    queued = provider.submit_task("2xa100", config)
    wait_status(provider, blocker.task_id, {"running"})
    with pytest.raises(TaskStateError) as early:
        provider.get_task_logs(queued.task_id)
    assert str(early.value) == (
        f"task {queued.task_id} is pending: it has no instance yet (logs appear once it is running)"
    )


def test_max_run_time_ends_the_job_as_timeout(timeout_task):
    # Submitted when this module started (Slurm ends jobs at most 30 s after their
    # one-minute limit), so the wait overlaps the tests above.
    provider, task_id = timeout_task
    done = wait_ended(provider, task_id, timeout=150)
    assert done.status is TaskStatus.FAILED
    assert done.metadata["slurm_state"] == "TIMEOUT"
    assert done.message == "TIMEOUT: reached its time limit (--max-run-time)"
    assert provider.get_task_logs(task_id) == "slow started"


def _reason_given(task: Task) -> Task | None:
    return task if task.message != "PENDING" else None


def _running(provider, task_id: str) -> bool:
    return wait_status(provider, task_id, {"running"}).status is TaskStatus.RUNNING


def test_on_the_login_node_itself_without_ssh(slurm_cluster: ClusterHandle, monkeypatch, tmp_path):
    for name in ("FLOW_SLURM_HOST", "FLOW_SLURM_PORT", "FLOW_SLURM_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in slurm_cluster.local_env.items():
        monkeypatch.setenv(name, value)
    code = tmp_path / "code"
    code.mkdir()
    (code / "mod.py").write_text("VALUE = 7\n")
    provider = SlurmProvider.from_config(load_config())
    assert provider.get_capabilities().supports_ssh is False
    config = TaskConfig(
        name="here",
        command="python3 -c 'import mod; print(mod.VALUE)'; sleep 300",
        upload_code=True,
        code_root=code,
    )
    task = provider.submit_task("1xa100", config)
    try:
        assert _running(provider, task.task_id)
        assert next(provider.stream_task_logs(task.task_id)) == "7"
        (code / "mod.py").write_text("VALUE = 8\n")
        assert provider.sync_code(task.task_id, code)["files"] == 1
        assert provider.stop_task(task.task_id) is True
        assert wait_ended(provider, task.task_id).status is TaskStatus.CANCELLED
    finally:
        provider.cancel_task(task.task_id)
