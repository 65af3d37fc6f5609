"""Exactly one bid per submit, also when the API acts on the POST after the client gave up."""

from __future__ import annotations

import time

import pytest

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.core.models import TaskConfig

from .conftest import all_bids

pytestmark = pytest.mark.sandbox

BIDS = ("POST", "/v2/spot/bids")
CLIENT_READ_TIMEOUT = 1.0
SERVER_DELAY_MS = 3000


def _posts(stats) -> int:
    rows = stats["requests"] + stats["dropped"]
    return sum(row["count"] for row in rows if (row["method"], row["route"]) == BIDS)


def test_a_bid_processed_after_the_clients_read_timeout_is_found_not_placed_again(
    http_sandbox, providers, figures
):
    client = providers.client(http_sandbox, timeout=(5.0, CLIENT_READ_TIMEOUT))
    provider = providers.provider(http_sandbox, api=client, reconcile_timeout=30.0)
    provider.list_tasks()  # project and catalogue cached before the fault
    http_sandbox.control("DELETE", "/stats")
    http_sandbox.faults("POST /v2/spot/bids", process_delay_ms=SERVER_DELAY_MS)

    task = provider.submit_task("a100", TaskConfig(name="slow-post", command="sleep 600"))

    time.sleep(SERVER_DELAY_MS / 1000 + 1)  # a second POST, had there been one, lands now
    http_sandbox.reset_faults()
    bids = [bid for bid in all_bids(http_sandbox) if bid["name"].startswith("slow-post-")]
    assert [bid["fid"] for bid in bids] == [task.task_id]
    assert _posts(http_sandbox.stats()) == 1
    provider.cancel_task(task.task_id)
    figures(
        "slow_post",
        {"read_timeout_s": CLIENT_READ_TIMEOUT, "server_delay_s": SERVER_DELAY_MS / 1000,
         "posts": 1, "bids": len(bids)},
    )  # fmt: skip


def test_a_bid_that_does_not_appear_by_the_deadline_is_one_line_and_not_sent_again(
    http_sandbox, providers
):
    client = providers.client(http_sandbox, timeout=(5.0, CLIENT_READ_TIMEOUT))
    provider = providers.provider(http_sandbox, api=client, reconcile_timeout=1.0)
    provider.list_tasks()
    http_sandbox.control("DELETE", "/stats")
    http_sandbox.faults("POST /v2/spot/bids", process_delay_ms=SERVER_DELAY_MS)

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit_task("a100", TaskConfig(name="late-post", command="sleep 600"))

    message = str(caught.value)
    assert "late-post-" in message and "may or may not have been placed" in message
    assert "not sent again" in message and "\n" not in message
    time.sleep(SERVER_DELAY_MS / 1000 + 1)
    http_sandbox.reset_faults()
    bids = [bid for bid in all_bids(http_sandbox) if bid["name"].startswith("late-post-")]
    assert len(bids) == 1, "the first POST landed late; nothing else was sent"
    assert _posts(http_sandbox.stats()) == 1
    for bid in bids:
        provider.cancel_task(bid["fid"])
