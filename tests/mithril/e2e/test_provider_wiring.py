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
from flow_notebook.providers.mithril.domain.bids import BidService


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


def test_a_dropped_bid_request_is_looked_up_by_name_and_never_sent_again(
    make_provider, mithril_sandbox
):
    # The connection is cut after the request went out: the API may still act on it,
    # so the bid is looked up by name until the deadline, then reported, not re-sent.
    api = ApiClient.from_config(load_config())
    bids = BidService(api, mithril_sandbox.project, reconcile_timeout=1.0, reconcile_delay=0.2)
    provider = make_provider(api=api, bids=bids)
    provider.list_tasks()  # project and catalogue are cached: only bid calls below
    mithril_sandbox.faults("POST /v2/spot/bids", drop_rate=1.0)
    try:
        before = _posts(mithril_sandbox)
        with pytest.raises(ProviderUnavailableError) as caught:
            provider.submit_task("", TaskConfig(name="dropped-once", command="true"))
        assert _posts(mithril_sandbox) - before == 1
    finally:
        mithril_sandbox.reset_faults()
    message = str(caught.value)
    assert "dropped-once-" in message and "not sent again" in message and "\n" not in message
    names = [b["name"] for b in mithril_sandbox.api("GET", "/v2/spot/bids").json()["data"]]
    assert not any(name.startswith("dropped-once-") for name in names)


def _posts(sandbox) -> int:
    rows = sandbox.stats()
    counted = rows["requests"] + rows["dropped"]
    return sum(
        r["count"] for r in counted if r["method"] == "POST" and r["route"] == "/v2/spot/bids"
    )
