"""The fault injector's decisions."""

from __future__ import annotations

from flow_notebook.sandbox.faults import FaultInjector, FaultRule


def test_no_rule_lets_every_request_pass():
    assert FaultInjector().decide("GET", "/v2/me").action == "pass"


def test_latest_matching_rule_decides():
    injector = FaultInjector()
    injector.add(FaultRule(pattern="* /v2/*", error_rate=1.0))
    injector.add(FaultRule(pattern="GET /v2/me", rate_limit_rate=1.0, retry_after=3))
    assert injector.decide("GET", "/v2/me").action == "rate_limit"
    assert injector.decide("GET", "/v2/me").retry_after == 3
    assert injector.decide("POST", "/v2/spot/bids").action == "error"


def test_spike_adds_to_latency():
    injector = FaultInjector()
    injector.add(FaultRule(latency_ms=10, spike_rate=1.0, spike_ms=90))
    assert injector.decide("GET", "/v2/me").delay_s == 0.1


def test_same_seed_same_decisions():
    def run(seed):
        injector = FaultInjector(seed)
        injector.add(FaultRule(error_rate=0.3, drop_rate=0.2))
        return [injector.decide("GET", "/v2/me").action for _ in range(50)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_reset_removes_rules():
    injector = FaultInjector()
    injector.add(FaultRule(error_rate=1.0))
    injector.reset()
    assert injector.rules() == []
    assert injector.decide("GET", "/v2/me").action == "pass"
