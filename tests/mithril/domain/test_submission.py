"""SubmissionService: region and price choice, code plan, volumes rolled back on failure."""

from __future__ import annotations

import os

import pytest

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import (
    InsufficientCapacityError,
    PriceValidationError,
    ValidationError,
)
from flow_notebook.core.models import TaskConfig, TaskStatus, VolumeSpec
from flow_notebook.providers.mithril.wiring import Wiring


@pytest.fixture
def wiring(fake, tmp_path):
    config = FlowConfig(home=tmp_path / "home", provider="mithril", project="test")
    config = config.with_overrides(api_key="fkey_secret", extra={"ssh_dir": str(tmp_path)})
    built = Wiring(config, api=fake.client())
    yield built
    built.close()


def _bodies(fake, method: str, path: str) -> list[dict]:
    return [r.json for r in fake.requests if r.method == method and r.url.endswith(path)]


def test_submit_bids_once_in_the_cheapest_region_with_room_at_the_recommended_price(fake, wiring):
    task = wiring.submission.submit("a100", TaskConfig(name="train", command="echo hi"))
    [body] = _bodies(fake, "POST", "/v2/spot/bids")
    assert (body["region"], body["limit_price"]) == ("r1", "$2.20")  # 4 free at $2 + 10 %
    assert body["name"].startswith("train-") and body["launch_specification"]["ssh_keys"]
    assert (task.status, task.name, task.metadata["startup_script_strategy"]) == (
        TaskStatus.PENDING,
        "train",
        "compressed",  # the on-instance watcher makes it larger than the inline limit
    )
    assert wiring.records.command(task.task_id) == "echo hi"
    assert task.metadata["upload"] is None  # one instance, no code: nothing after boot


def test_max_price_caps_the_limit(fake, wiring):
    wiring.submission.submit("a100", TaskConfig(command="true", max_price_per_hour=2.1))
    [body] = _bodies(fake, "POST", "/v2/spot/bids")
    assert (body["region"], body["limit_price"]) == ("r1", "$2.10")


def test_a_full_cheapest_region_sends_the_bid_where_there_is_room(fake, wiring):
    wiring.submission.submit("a100", TaskConfig(command="true", num_instances=5))
    [body] = _bodies(fake, "POST", "/v2/spot/bids")
    assert body["region"] == "r2"  # r1 ($2) has 4 free, r2 ($3) has 8


def test_no_capacity_fails_before_any_bid_or_volume(fake, wiring):
    config = TaskConfig(command="true", num_instances=9, volumes=[VolumeSpec(name="x", size_gb=1)])
    with pytest.raises(InsufficientCapacityError):
        wiring.submission.submit("a100", config)
    assert not [r for r in fake.requests if r.method == "POST"]


def test_refused_price_names_the_current_price_and_new_volumes_are_deleted(fake, wiring):
    fake.fail_bids_with = 422
    config = TaskConfig(command="true", volumes=[VolumeSpec(name="scratch", size_gb=5)])
    with pytest.raises(PriceValidationError, match=r"current spot price is \$2.00/h for 1xa100"):
        wiring.submission.submit("a100", config)
    assert _bodies(fake, "POST", "/v2/volumes") and fake.volumes == {}


def test_small_code_is_embedded_and_large_code_waits_for_an_upload(fake, wiring, tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    (small / "a.py").write_text("print(1)\n")
    (large / "blob.bin").write_bytes(os.urandom(20_000))
    embedded = wiring.submission.submit(
        "a100", TaskConfig(command="true", upload_code=True, code_root=small)
    )
    uploaded = wiring.submission.submit(
        "a100", TaskConfig(command="true", upload_code=True, code_root=large)
    )
    assert (embedded.metadata["code"], uploaded.metadata["code"]) == ("archive", "wait")
    assert uploaded.metadata["upload"]["phase"] == "waiting_for_instances"


def test_prepare_fills_the_type_id_and_refuses_a_missing_code_root(wiring, tmp_path):
    prepared = wiring.submission.prepare_task_config(TaskConfig(command="true"))
    assert prepared.instance_type == "it_RrgkIZz6c9BZu5gi"
    with pytest.raises(ValidationError, match="not a directory"):
        wiring.submission.prepare_task_config(
            TaskConfig(command="true", upload_code=True, code_root=tmp_path / "missing")
        )
