"""%flow run: submits, prints one line, returns the Task, follows or waits when asked."""

from __future__ import annotations

from flow_notebook.core.models import Task, TaskStatus


def test_run_returns_the_task_and_prints_one_line(use_fake, flow):
    provider = use_fake()
    task, out = flow("run -- echo hi")
    assert isinstance(task, Task)
    assert provider.configs[task.task_id].command == ["echo", "hi"]
    assert out == (
        f"task {task.task_id} (flow-task) running: %flow logs {task.task_id} --follow to watch "
        f"it, %flow cancel {task.task_id} to stop it\n"
    )


def test_run_assigns_the_task_in_a_cell(ip, use_fake):
    use_fake()
    ip.run_cell("task = %flow run --name demo -- echo hi", store_history=False).raise_error()
    assert ip.user_ns["task"].name == "demo"


def test_run_passes_resource_options_to_the_provider(use_fake, flow, tmp_path):
    provider = use_fake()
    task, _ = flow(
        f"run -g a100 --instances 2 --region us-1 --max-price 3.5 --image img:1 "
        f"--env A=1 --env B=x=y --name n1 --code {tmp_path} -- python train.py --lr 0.1"
    )
    config = provider.configs[task.task_id]
    assert provider.submitted_types == ["fake-a100"]
    assert (config.num_instances, config.region, config.max_price_per_hour) == (2, "us-1", 3.5)
    assert (config.image, config.name, config.env) == ("img:1", "n1", {"A": "1", "B": "x=y"})
    assert (config.upload_code, config.code_root) == (True, tmp_path)
    assert config.command == ["python", "train.py", "--lr", "0.1"]


def test_one_quoted_word_with_spaces_runs_as_a_shell_line(use_fake, flow):
    provider = use_fake()
    task, _ = flow("run -- 'echo a && echo b'")
    assert provider.configs[task.task_id].command == "echo a && echo b"


def test_run_follow_streams_lines_and_returns_the_ended_task(use_fake, flow):
    use_fake(lines=("step 1", "step 2"), final=TaskStatus.FAILED, exit_code=3)
    task, out = flow("run --follow -- python fail.py")
    lines = out.splitlines()
    assert lines[1:] == ["step 1", "step 2", f"task {task.task_id} failed (exit 3)"]
    assert task.status is TaskStatus.FAILED


def test_run_wait_prints_only_the_outcome(use_fake, flow):
    provider = use_fake()
    provider.ends_by_itself = False
    submit = provider.submit_task

    def submit_and_finish(*args, **kwargs):
        task = submit(*args, **kwargs)
        provider.end(task.task_id, TaskStatus.COMPLETED, 0)
        return task

    provider.submit_task = submit_and_finish
    task, out = flow("run --wait -- echo hi")
    assert task.status is TaskStatus.COMPLETED
    assert out.splitlines()[1].startswith(f"task {task.task_id} completed in ")


def test_interrupted_follow_leaves_the_task_running(use_fake, flow):
    provider = use_fake(lines=("a", "b"), interrupt_after=1)
    task, out = flow("run --follow -- sleep 100")
    assert task.status is TaskStatus.RUNNING
    assert provider.cancelled == []
    assert out.splitlines()[-1].startswith("detached (interrupted); the task keeps running")
    assert f"%flow cancel {task.task_id}" in out.splitlines()[-1]
