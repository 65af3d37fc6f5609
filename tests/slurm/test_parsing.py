"""Unit tests of the Slurm provider's parsing and mapping (no cluster)."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.slurm.cluster import (
    Node,
    Partition,
    format_minutes,
    parse_gres,
    parse_minutes,
    parse_nodes,
)
from flow_notebook.providers.slurm.jobs import refusal
from flow_notebook.providers.slurm.offers import OfferCatalog
from flow_notebook.providers.slurm.states import exit_code, state_message, task_status


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30", 30),
        ("2:00:00", 120),
        ("1:30", 2),
        ("1-00:00:00", 1440),
        ("2-6", 3240),
        ("UNLIMITED", None),
        ("0:00:30", 1),
    ],
)
def test_slurm_time_limits_parse_into_minutes(text, minutes):
    assert parse_minutes(text) == minutes


def test_minutes_format_as_slurm_writes_them():
    assert (format_minutes(120), format_minutes(2160)) == ("2:00:00", "1-12:00:00")


def test_gres_lists_count_gpus_per_type():
    assert parse_gres("gpu:a100:2,gpu:v100:1(S:0),mps:100") == {"a100": 2, "v100": 1}
    assert parse_gres("gpu:4") == {"gpu": 4}
    assert parse_gres("(null)") == {}


def test_nodes_parse_with_their_allocated_gpus():
    line = (
        "NodeName=n1 CPUTot=8 Gres=gpu:a100:4 NodeAddr=10.0.0.1 RealMemory=64000 "
        "State=MIXED+DRAIN AllocTRES=cpu=2,gres/gpu=3 OS=Linux 6.1 #1 SMP"
    )
    (node,) = parse_nodes(line)
    assert (node.state, node.gpus, node.gpus_used, node.address) == (
        "mixed",
        {"a100": 4},
        3,
        "10.0.0.1",
    )
    assert node.fits("a100", 1) and not node.fits("a100", 2)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("PENDING", TaskStatus.PENDING),
        ("RUNNING", TaskStatus.RUNNING),
        ("COMPLETING", TaskStatus.RUNNING),
        ("COMPLETED", TaskStatus.COMPLETED),
        ("FAILED", TaskStatus.FAILED),
        ("CANCELLED by 0", TaskStatus.CANCELLED),
        ("TIMEOUT", TaskStatus.FAILED),
        ("PREEMPTED", TaskStatus.FAILED),
        ("NODE_FAIL", TaskStatus.FAILED),
        ("SUSPENDED", TaskStatus.PAUSED),
    ],
)
def test_job_states_map_to_task_statuses(state, status):
    assert task_status(state) is status


def test_state_messages_carry_the_reason_or_the_cause():
    assert state_message("PENDING", "Priority") == "PENDING (Priority)"
    assert state_message("PENDING", "None") == "PENDING"
    assert state_message("NODE_FAIL", None) == "NODE_FAIL: a node of the job failed"
    assert state_message("PREEMPTED", None) == "PREEMPTED: preempted by a higher-priority job"


def test_exit_codes_read_code_and_signal():
    assert (exit_code("3:0"), exit_code("0:15"), exit_code("0:0"), exit_code("")) == (
        3,
        143,
        0,
        None,
    )


def test_slurm_refusals_become_the_last_error_message():
    tail = (
        "sbatch: error: invalid partition specified: nope | "
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    assert refusal(tail) == "Batch job submission failed: Invalid partition name specified"


def _catalog() -> OfferCatalog:
    gpu = Node("g1", "idle", {"a100": 4}, 8, 64000, "g1")
    cpu = Node("c1", "idle", {}, 32, 128000, "c1")
    return OfferCatalog(
        [
            Partition("cpu", True, True, 60, None, (cpu,)),
            Partition("gpu", False, True, 120, 1, (gpu,)),
        ],
        None,
    )


def test_a_gpu_request_goes_to_the_partition_that_has_the_gpu():
    shape = _catalog().shape("2xa100", 1, hours=1.5)
    assert (shape.partition, shape.instance_type, shape.time_minutes) == ("gpu", "2xa100", 90)
    assert shape.sbatch_options() == [
        "--partition=gpu",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--gres=gpu:a100:2",
        "--time=90",
    ]
    assert _catalog().shape(None, 1).partition == "cpu"


def test_requests_beyond_the_partitions_are_one_line_each():
    catalog = _catalog()
    with pytest.raises(ValidationError, match=r"^no partition has GPU type 'h100'; .* 4xa100"):
        catalog.shape("h100", 1)
    with pytest.raises(ValidationError, match=r"^partition cpu has no GPU type 'a100'"):
        catalog.shape("cpu:a100", 1)
    with pytest.raises(ValidationError, match=r"^2 instances asked for, partition gpu has 1"):
        catalog.shape("a100", 2)
    with pytest.raises(ValidationError, match=r"over partition gpu's limit of 2:00:00$"):
        catalog.shape("a100", 1, hours=3)
