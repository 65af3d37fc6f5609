"""%%flow run on the real two-node Slurm test cluster: the same magics as on Mithril."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.pinned import TaskFailedError

from .conftest import start_kernel, stop_kernel, ticking, wait_until

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def cluster(ip, tmp_path, project, slurm_cluster, monkeypatch):
    """A kernel whose provider is Slurm (FLOW_PROVIDER=slurm), over SSH to the login node."""
    for name, value in slurm_cluster.env.items():
        monkeypatch.setenv(name, value)
    kernel = start_kernel(ip, tmp_path / "state")
    yield kernel
    stop_kernel(kernel)


def test_a_cell_runs_as_a_job_with_code_push_and_pull(ip, cluster):
    ip.user_ns["base"] = 2
    body = "import helper\nresult = base + helper.OFFSET\nprint('result', result)\n"
    ip.run_cell_magic("flow", "run --gpu a100 --wait --push base --pull result", body)
    surface = cluster.last
    assert surface.metadata["provider"] == "slurm"
    assert surface.lines == ["result 102"]
    assert surface.summary.task.status is TaskStatus.COMPLETED
    assert surface.summary.task.exit_code == 0
    assert ip.user_ns["result"] == 102


def test_attach_after_a_restart_resumes_the_job_exactly(ip, tmp_path, cluster):
    ip.run_cell_magic("flow", "run --gpu a100 --name long", ticking(30, 0.1, word="s"))
    first = cluster.last
    wait_until(lambda: len(first.lines) >= 3, timeout=60)
    task_id = first.metadata["task_id"]
    cluster.session.followers.stop_all("kernel restarted")
    second = start_kernel(ip, tmp_path / "state")
    try:
        listed = _flow(ip, "list")
        assert task_id in listed
        ip.run_line_magic("flow", f"attach {task_id} --wait")
        assert first.lines + second.last.lines == [f"s {i}" for i in range(30)]
    finally:
        second.session.close()


def test_a_failing_cell_is_one_line_with_the_exit_code(ip, cluster):
    with pytest.raises(TaskFailedError) as caught:
        ip.run_cell_magic("flow", "run --wait", "raise SystemExit('no data here')\n")
    assert "failed (exit 1): no data here; full log" in str(caught.value)


def test_bad_gpu_type_or_time_limit_is_one_line_naming_what_the_cluster_has(ip, cluster):
    with pytest.raises(UsageError) as gpu:
        ip.run_line_magic("flow", "run --gpu h100 -- true")
    assert str(gpu.value) == "no partition has GPU type 'h100'; the cluster has: 2xa100 (gpu)"
    with pytest.raises(UsageError) as limit:
        ip.run_line_magic("flow", "run --gpu a100 --max-run-time 3h -- true")
    assert str(limit.value) == "--max-run-time 3:00:00 is over partition gpu's limit of 2:00:00"


def _flow(ip, line: str) -> str:
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        ip.run_line_magic("flow", line)
    return captured.stdout.strip()
