"""%flow logs: the tail of a task's output, stderr, and following with resume."""

from __future__ import annotations


def test_logs_prints_the_last_lines(use_fake, flow):
    use_fake(lines=("a", "b", "c"))
    task, _ = flow("run -- echo")
    assert flow(f"logs {task.task_id} --tail 2")[1] == "b\nc\n"


def test_logs_stderr_reads_the_error_stream(use_fake, flow):
    use_fake()
    task, _ = flow("run -- echo")
    assert flow(f"logs {task.task_id} --stderr")[1] == "warning: something\n"


def test_logs_of_a_silent_task_says_there_is_no_output(use_fake, flow):
    use_fake(lines=())
    flow("run -- true")
    assert flow("logs")[1] == "(no stdout output)\n"


def test_logs_follow_resumes_where_an_interrupted_run_stopped(use_fake, flow):
    provider = use_fake(resumable=True, lines=("a", "b", "c"), interrupt_after=2)
    task, _ = flow("run --follow -- python job.py")
    provider.interrupt_after = None
    _, out = flow(f"logs {task.task_id} --follow")
    assert out.splitlines() == [
        f"(resuming {task.task_id} after 2 lines already shown)",
        "c",
        f"task {task.task_id} completed in 0s",
    ]
