"""ApiClient retries and circuit breaker against faults the sandbox injects over real HTTP.

Each test has a sandbox of its own (``fresh_sandbox``), so its faults reach no other
test; ``fresh_client`` removes them at teardown. The sandbox draws one random number
per matching request for a rule with a single rate, so reseeding it picks which
requests fail: ``seed_failing_first(n)`` fails the first ``n`` and lets the next through.
"""

from __future__ import annotations

import random
import time

import pytest

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.providers.mithril.api import CircuitBreaker, RetryPolicy, dto
from flow_notebook.sandbox.testing import A100, REGION, wait_for

pytestmark = pytest.mark.sandbox

RATE = 0.5


def seed_failing_first(failures: int) -> int:
    for seed in range(10_000):
        draws = random.Random(seed)
        if all(draws.random() < RATE for _ in range(failures)) and draws.random() >= RATE:
            return seed
    raise AssertionError("no seed found")


def inject(handle, pattern, failures, **rule):
    handle.reset_faults(seed=seed_failing_first(failures))
    handle.faults(pattern, **rule)
    handle.control("DELETE", "/stats")


def counts(handle, method, route):
    """Returns {status: count} of ``method route`` and the number of dropped connections."""
    stats = handle.stats()
    by_status = {
        row["status"]: row["count"]
        for row in stats["requests"]
        if (row["method"], row["route"]) == (method, route)
    }
    dropped = sum(
        row["count"] for row in stats["dropped"] if (row["method"], row["route"]) == (method, route)
    )
    return by_status, dropped


def v2_requests(handle) -> int:
    stats = handle.stats()
    rows = stats["requests"] + stats["dropped"]
    return sum(row["count"] for row in rows if row["route"].startswith("/v2/"))


def bid_request(project: str, name: str) -> dto.CreateBidRequest:
    return dto.CreateBidRequest(
        project=project,
        region=REGION,
        instance_type=A100,
        limit_price="$10.00",
        instance_quantity=1,
        name=name,
        launch_specification=dto.LaunchSpecificationModel(volumes=[], ssh_keys=[]),
    )


# --- retries ---------------------------------------------------------------------


def test_get_succeeds_through_injected_503s_with_the_extra_attempts_on_the_server(
    fresh_client, fresh_sandbox
):
    inject(fresh_sandbox, "GET /v2/projects", 2, error_rate=RATE, error_status=503)

    projects = fresh_client.list_projects()

    assert fresh_sandbox.project in {p.fid for p in projects}
    assert counts(fresh_sandbox, "GET", "/v2/projects") == ({503: 2, 200: 1}, 0)


def test_get_gives_up_after_max_attempts_under_a_steady_503(fresh_client, fresh_sandbox):
    inject(fresh_sandbox, "GET /v2/me", 0, error_rate=1.0, error_status=503)

    with pytest.raises(ProviderUnavailableError, match="HTTP 503"):
        fresh_client.get_me()

    assert counts(fresh_sandbox, "GET", "/v2/me") == ({503: 4}, 0)


def test_429_retry_after_is_waited_out_before_the_next_attempt(fresh_client, fresh_sandbox):
    inject(fresh_sandbox, "GET /v2/me", 1, rate_limit_rate=RATE, retry_after=1)

    started = time.monotonic()
    me = fresh_client.get_me()
    elapsed = time.monotonic() - started

    assert me.fid
    assert elapsed >= 0.95
    assert counts(fresh_sandbox, "GET", "/v2/me") == ({429: 1, 200: 1}, 0)


def test_get_is_retried_after_a_dropped_connection(fresh_client, fresh_sandbox):
    inject(fresh_sandbox, "GET /v2/instance-types", 1, drop_rate=RATE)

    types = fresh_client.list_instance_types()

    assert A100 in {t.fid for t in types}
    assert counts(fresh_sandbox, "GET", "/v2/instance-types") == ({200: 1}, 1)


def test_create_bid_is_sent_once_on_an_injected_503(fresh_client, fresh_sandbox):
    inject(fresh_sandbox, "POST /v2/spot/bids", 0, error_rate=1.0, error_status=503)

    with pytest.raises(ProviderUnavailableError, match="HTTP 503"):
        fresh_client.create_bid(bid_request(fresh_sandbox.project, "once-503"))

    assert counts(fresh_sandbox, "POST", "/v2/spot/bids") == ({503: 1}, 0)
    fresh_sandbox.reset_faults()
    assert fresh_client.list_bids(fresh_sandbox.project, name="once-503").data == []


def test_create_bid_is_sent_once_when_the_connection_drops(fresh_client, fresh_sandbox):
    inject(fresh_sandbox, "POST /v2/spot/bids", 0, drop_rate=1.0)

    with pytest.raises(ProviderUnavailableError, match="unreachable"):
        fresh_client.create_bid(bid_request(fresh_sandbox.project, "once-drop"))

    assert counts(fresh_sandbox, "POST", "/v2/spot/bids") == ({}, 1)
    fresh_sandbox.reset_faults()
    assert fresh_client.list_bids(fresh_sandbox.project, name="once-drop").data == []


# --- circuit breaker ---------------------------------------------------------------


def test_breaker_opens_under_an_outage_fails_fast_and_closes_after_recovery(
    fresh_sandbox, client_for
):
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=1.5)
    client = client_for(fresh_sandbox, retry=RetryPolicy(max_attempts=1), breaker=breaker)
    inject(fresh_sandbox, "* /v2/*", 0, error_rate=1.0, error_status=503)
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError, match="HTTP 503"):
            client.get_me()
    assert breaker.state == "open"
    fresh_sandbox.control("DELETE", "/stats")

    with pytest.raises(ProviderUnavailableError, match="circuit open"):
        client.get_me()
    assert v2_requests(fresh_sandbox) == 0

    fresh_sandbox.reset_faults()
    with pytest.raises(ProviderUnavailableError, match="circuit open"):
        client.list_projects()  # recovered, but the cool-down has not passed
    assert v2_requests(fresh_sandbox) == 0

    wait_for(lambda: breaker.state == "half-open", timeout=5)
    assert client.get_me().fid
    assert breaker.state == "closed"
    assert counts(fresh_sandbox, "GET", "/v2/me") == ({200: 1}, 0)
