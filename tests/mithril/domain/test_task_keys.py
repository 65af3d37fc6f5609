"""Task keys: minted with a bounded expiry, settled when a bid ends, leftovers cleaned."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.domain.records import MemoryRecordStore, TaskRecords
from flow_notebook.providers.mithril.domain.task_keys import TaskKeys, run_limit_seconds

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def keys(fake):
    return TaskKeys(
        fake.client(),
        TaskRecords(MemoryRecordStore()),
        api_url="http://api.invalid",
        project=lambda: "proj_test",
        bid_status=lambda name: {b["name"]: b["status"] for b in fake.bids.values()}.get(name),
        clock=lambda: NOW,
    )


def _key(fake, name, *, expires=NOW + timedelta(days=1), created=NOW):
    key = {
        "fid": f"apikey_{len(fake.api_keys) + 100}", "name": name,
        "created_at": created.isoformat(), "expires_at": expires.isoformat(),
        "deactivated_at": None, "snippet": "fkey_x...",
    }  # fmt: skip
    fake.api_keys.append(key)
    return key


def test_mint_expires_just_past_the_limit_and_hides_the_secret(fake, keys):
    config = TaskConfig(command="true", max_run_time_hours=2)
    watch = keys.mint(config, "train-abc", limit_price=4.0)
    [made] = fake.api_keys
    assert made["name"] == "flow-task:train-abc"
    expires = datetime.fromisoformat(made["expires_at"])
    assert expires == NOW + timedelta(hours=2 + 6, minutes=15)
    assert (watch.key_fid, watch.max_run_seconds, watch.bid_name) == (
        made["fid"],
        7200,
        "train-abc",
    )
    assert watch.key_secret not in repr(watch)


def test_max_cost_becomes_time_at_the_limit_price_and_the_tighter_limit_wins():
    config = TaskConfig(command="true", max_cost=10, num_instances=2)
    assert run_limit_seconds(config, 5.0) == pytest.approx(3600)  # $10 at 2 x $5/h
    config.max_run_time_hours = 0.5
    assert run_limit_seconds(config, 5.0) == pytest.approx(1800)
    assert run_limit_seconds(TaskConfig(command="true"), 5.0) is None


def test_settle_revokes_the_key_and_done_keys_once_and_reads_the_exit_code(fake, keys):
    watch = keys.mint(TaskConfig(command="true"), "job-1", limit_price=1.0)
    keys.remember("bid_9", watch)
    _key(fake, f"flow-done:{watch.key_fid}:0:0")
    _key(fake, f"flow-done:{watch.key_fid}:1:7")
    other = _key(fake, "flow-done:apikey_other:0:0")
    assert keys.exit_code("bid_9") == 7
    keys.settle("bid_9")
    revoked = {k["fid"] for k in fake.api_keys if k["deactivated_at"]}
    assert watch.key_fid in revoked and other["fid"] not in revoked and len(revoked) == 3
    before = len(fake.requests)
    keys.settle("bid_9")
    assert len(fake.requests) == before  # settled once


def test_exit_code_recorded_after_a_cached_listing_is_still_found(fake, keys):
    watch = keys.mint(TaskConfig(command="true"), "job-2", limit_price=1.0)
    keys.remember("bid_8", watch)
    assert keys.exit_code("bid_8") is None  # lists the keys: none done yet
    _key(fake, f"flow-done:{watch.key_fid}:0:0")  # the watcher records the end just after
    assert keys.exit_code("bid_8") == 0


def test_clean_revokes_keys_of_ended_vanished_and_expired_tasks_only(fake, keys):
    fake.add_bid(name="ended", status="Terminated")
    fake.add_bid(name="running", status="Allocated")
    ended = _key(fake, "flow-task:ended")
    done = _key(fake, f"flow-done:{ended['fid']}:0:0")
    running = _key(fake, "flow-task:running")
    vanished = _key(fake, "flow-task:gone", created=NOW - timedelta(hours=1))
    young = _key(fake, "flow-task:placing", created=NOW - timedelta(minutes=1))
    expired = _key(fake, "flow-task:old", expires=NOW - timedelta(minutes=1))
    user_key = _key(fake, "my laptop")
    assert keys.clean() == 4
    revoked = {k["fid"] for k in fake.api_keys if k["deactivated_at"]}
    assert revoked == {ended["fid"], done["fid"], vanished["fid"], expired["fid"]}
    assert not {running["fid"], young["fid"], user_key["fid"]} & revoked
