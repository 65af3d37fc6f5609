"""ApiClient circuit breaker: opens on repeated failures, fails fast, probes, closes."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import NotFoundError, ProviderUnavailableError, RateLimitedError
from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    MockTransport,
    RetryPolicy,
    TransportError,
    TransportResponse,
)

API_KEY = "fkey_BREAKER_TEST_SECRET_31c0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """A handler whose answer the test switches between failing and healthy."""

    def __init__(self) -> None:
        self.status = 503

    def __call__(self, request):
        if self.status == 0:
            raise TransportError("connection reset")
        return TransportResponse.json_body(self.status, [] if self.status == 200 else {})


def _client(*, threshold=3, reset=30.0, max_attempts=1):
    clock = FakeClock()
    server = Server()
    transport = MockTransport(server)
    breaker = CircuitBreaker(failure_threshold=threshold, reset_timeout=reset, clock=clock)
    client = ApiClient(
        API_KEY,
        base_url="http://127.0.0.1:9",
        transport=transport,
        retry=RetryPolicy(max_attempts=max_attempts),
        breaker=breaker,
        sleep=lambda seconds: None,
    )
    return client, server, transport, clock


def _fail_times(client, count):
    for _ in range(count):
        with pytest.raises(ProviderUnavailableError):
            client.list_projects()


def test_breaker_opens_after_threshold_failures_and_fails_fast_without_sending():
    client, _, transport, _ = _client(threshold=3)
    _fail_times(client, 3)
    assert len(transport.requests) == 3
    assert client.breaker.state == "open"

    with pytest.raises(ProviderUnavailableError, match="circuit open, retrying in 30s"):
        client.list_projects()

    assert len(transport.requests) == 3


def test_open_message_counts_down_the_cool_down():
    client, _, _, clock = _client(threshold=1, reset=30.0)
    _fail_times(client, 1)
    clock.now += 12.5
    with pytest.raises(ProviderUnavailableError, match="retrying in 18s"):
        client.list_projects()


def test_connection_failures_count_towards_opening():
    client, server, transport, _ = _client(threshold=2)
    server.status = 0
    _fail_times(client, 2)
    with pytest.raises(ProviderUnavailableError, match="circuit open"):
        client.list_projects()
    assert len(transport.requests) == 2


def test_after_the_cool_down_one_probe_goes_through_and_success_closes():
    client, server, transport, clock = _client(threshold=2, reset=10.0)
    _fail_times(client, 2)
    clock.now += 10.0
    server.status = 200

    assert client.list_projects() == []

    assert client.breaker.state == "closed"
    assert client.list_projects() == []
    assert len(transport.requests) == 4


def test_a_failed_probe_opens_the_circuit_again_for_a_full_cool_down():
    client, _, transport, clock = _client(threshold=2, reset=10.0)
    _fail_times(client, 2)
    clock.now += 10.0

    _fail_times(client, 1)

    assert len(transport.requests) == 3
    with pytest.raises(ProviderUnavailableError, match="retrying in 10s"):
        client.list_projects()
    assert len(transport.requests) == 3


def test_only_one_probe_is_let_through_while_it_is_in_flight():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5.0, clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.state == "half-open"

    breaker.before_call()
    with pytest.raises(ProviderUnavailableError, match="circuit open"):
        breaker.before_call()

    breaker.record_success()
    breaker.before_call()
    assert breaker.state == "closed"


def test_a_calls_retries_count_as_one_failure():
    client, _, transport, _ = _client(threshold=2, max_attempts=5)
    _fail_times(client, 1)
    assert len(transport.requests) == 5
    assert client.breaker.state == "closed"
    _fail_times(client, 1)
    assert client.breaker.state == "open"


def test_a_partial_outage_that_retries_ride_out_never_opens_the_breaker():
    clock = FakeClock()
    answers = iter([503, 200] * 200)
    transport = MockTransport(lambda request: TransportResponse.json_body(next(answers), []))
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30.0, clock=clock)
    client = ApiClient(
        API_KEY, base_url="http://127.0.0.1:9", transport=transport,
        retry=RetryPolicy(max_attempts=4), breaker=breaker, sleep=lambda seconds: None,
    )  # fmt: skip
    for _ in range(100):
        assert client.list_projects() == []
    assert breaker.state == "closed"


def test_an_interrupted_call_counts_as_nothing_and_frees_the_probe():
    client, server, transport, clock = _client(threshold=1, reset=5.0)
    _fail_times(client, 1)
    clock.now += 5.0

    def interrupted(request):
        raise KeyboardInterrupt

    transport._handler = interrupted
    with pytest.raises(KeyboardInterrupt):
        client.list_projects()  # the probe is interrupted: no verdict on the API
    transport._handler = server
    server.status = 200
    assert client.list_projects() == []  # the next call may probe at once
    assert client.breaker.state == "closed"


def test_interrupts_never_open_the_breaker():
    client, _, transport, _ = _client(threshold=2)

    def interrupted(request):
        raise KeyboardInterrupt

    transport._handler = interrupted
    for _ in range(5):
        with pytest.raises(KeyboardInterrupt):
            client.list_projects()
    assert client.breaker.state == "closed"


def test_a_success_resets_the_consecutive_failure_count():
    client, server, transport, _ = _client(threshold=3)
    _fail_times(client, 2)
    server.status = 200
    client.list_projects()
    server.status = 503
    _fail_times(client, 2)
    assert client.breaker.state == "closed"
    assert len(transport.requests) == 5


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (429, RateLimitedError)])
def test_client_errors_and_rate_limits_do_not_open_the_breaker(status, error):
    client, server, transport, _ = _client(threshold=2)
    server.status = status
    for _ in range(4):
        with pytest.raises(error):
            client.list_projects()
    assert client.breaker.state == "closed"
    assert len(transport.requests) == 4
