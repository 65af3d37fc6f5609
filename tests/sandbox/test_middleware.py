"""Injected faults and request statistics, seen from a plain ``requests`` client."""

from __future__ import annotations

import time

import pytest
import requests


def get_me(sandbox):
    return requests.get(
        f"{sandbox.url}/v2/me", headers={"Authorization": f"Bearer {sandbox.api_key}"}, timeout=10
    )


def test_error_rate_answers_that_share_of_requests_with_503(fresh_sandbox):
    fresh_sandbox.faults("GET /v2/me", error_rate=0.5, error_status=503)
    codes = [get_me(fresh_sandbox).status_code for _ in range(60)]
    assert set(codes) == {200, 503}
    assert 15 <= codes.count(503) <= 45
    assert fresh_sandbox.api("GET", "/v2/projects").status_code == 200  # other routes untouched


def test_rate_limit_answers_429_with_retry_after(fresh_sandbox):
    fresh_sandbox.faults("* /v2/*", rate_limit_rate=1.0, retry_after=7)
    response = get_me(fresh_sandbox)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    fresh_sandbox.reset_faults()
    assert get_me(fresh_sandbox).status_code == 200


def test_dropped_connection_gets_no_answer(fresh_sandbox):
    fresh_sandbox.faults("GET /v2/me", drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        get_me(fresh_sandbox)
    assert fresh_sandbox.stats()["dropped"] == [{"method": "GET", "route": "/v2/me", "count": 1}]


def test_latency_delays_matching_requests(fresh_sandbox):
    fresh_sandbox.faults("GET /v2/me", latency_ms=300)
    started = time.monotonic()
    assert get_me(fresh_sandbox).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_same_seed_gives_the_same_fault_sequence(fresh_sandbox):
    def run():
        fresh_sandbox.reset_faults(seed=42)
        fresh_sandbox.faults("GET /v2/me", error_rate=0.5)
        return [get_me(fresh_sandbox).status_code for _ in range(20)]

    assert run() == run()


def test_stats_count_requests_per_route_and_status_and_422s(fresh_sandbox):
    fresh_sandbox.control("DELETE", "/stats")
    get_me(fresh_sandbox)
    fresh_sandbox.api("GET", "/v2/instances")  # missing project: 422
    fresh_sandbox.api("GET", "/v2/spot/bids/bid_x")
    stats = fresh_sandbox.stats()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in stats["requests"]}
    assert rows[("GET", "/v2/me", 200)] == 1
    assert rows[("GET", "/v2/spot/bids/{bid_fid}", 404)] == 1
    assert stats["count_422"] == 1
