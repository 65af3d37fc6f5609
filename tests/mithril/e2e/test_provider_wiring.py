"""The provider as users reach it: the registry, the %flow magics, and a lost bid answer."""

from __future__ import annotations

import re

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from flow_notebook.core.config import load_config
from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.core.models import TaskConfig
from flow_notebook.core.registry import get_provider
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.session import Timing
from flow_notebook.providers.mithril.api import ApiClient


def test_flow_provider_mithril_and_the_sandbox_env_give_a_working_provider(
    sandbox_env, require_ssh
):
    provider = get_provider()
    try:
        assert type(provider).__name__ == "MithrilProvider"
        assert provider.find_instances({"gpu_type": "a100"}, limit=3)
        assert isinstance(provider.list_tasks(limit=5), list)
    finally:
        provider.close()


def test_flow_run_follow_magic_works_unchanged_against_mithril(sandbox_env, require_ssh):
    ip = InteractiveShell.instance()
    magics = FlowMagics(ip, timing=Timing(poll_interval=0.2, settle_timeout=30.0))
    ip.register_magics(magics)
    try:
        with capture_output() as captured:
            task = ip.run_line_magic("flow", "run --follow -- echo hi")
        lines = captured.stdout.splitlines()
        assert "hi" in lines
        # A duration, not "-": the runtime outlives the terminated bid.
        assert re.fullmatch(rf"task {task.task_id} completed in \d+s", lines[-1])
    finally:
        magics.session.close()


def test_dropped_bid_request_is_looked_up_by_name_then_sent_once_more(
    make_provider, mithril_sandbox
):
    provider = make_provider()
    provider.list_tasks()  # project and catalogue are cached: only bid calls below
    # Seed 1: the first POST is cut before the sandbox handles it, the second passes.
    mithril_sandbox.reset_faults(seed=1)
    mithril_sandbox.faults("POST /v2/spot/bids", drop_rate=0.5)
    try:
        before = _posts(mithril_sandbox)
        task = provider.submit_task("", TaskConfig(name="dropped-once", command="true"))
        assert _posts(mithril_sandbox) - before == 2
    finally:
        mithril_sandbox.reset_faults()
    named = mithril_sandbox.api(
        "GET", "/v2/spot/bids", params={"name": task.metadata["bid_name"]}
    ).json()["data"]
    assert [bid["fid"] for bid in named] == [task.task_id]


def test_bid_answers_lost_twice_raise_after_two_sends_and_leave_no_bid(
    make_provider, mithril_sandbox
):
    # The sandbox delays the request past the client's read timeout; the client
    # gives up, so the sandbox never creates the bid. (A bid created whose answer
    # is lost is covered by the unit tests of BidService.)
    api = ApiClient.from_config(load_config(), timeout=(2.0, 0.3))
    provider = make_provider(api=api)
    provider.list_tasks()
    mithril_sandbox.faults("POST /v2/spot/bids", latency_ms=800)
    try:
        before = _posts(mithril_sandbox)
        with pytest.raises(ProviderUnavailableError, match="could not be placed"):
            provider.submit_task("", TaskConfig(name="lost-twice", command="true"))
        assert _posts(mithril_sandbox) - before == 2
    finally:
        mithril_sandbox.reset_faults()
    names = [b["name"] for b in mithril_sandbox.api("GET", "/v2/spot/bids").json()["data"]]
    assert not any(name.startswith("lost-twice-") for name in names)


def _posts(sandbox) -> int:
    rows = sandbox.stats()
    counted = rows["requests"] + rows["dropped"]
    return sum(
        r["count"] for r in counted if r["method"] == "POST" and r["route"] == "/v2/spot/bids"
    )
