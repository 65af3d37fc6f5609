"""ApiClient retries: what is retried, how long it waits, and what is never repeated."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from flow_notebook.core.errors import (
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
)
from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    MockTransport,
    RetryPolicy,
    TransportError,
    TransportResponse,
    dto,
)
from flow_notebook.providers.mithril.api.retry import parse_retry_after
from flow_notebook.providers.mithril.api.transport import HTTPStatusError

API_KEY = "fkey_RETRY_TEST_SECRET_77aa"
BASE = "http://127.0.0.1:9"
BID = {
    "fid": "bid_1",
    "name": "flow-task",
    "project": "proj_1",
    "created_by": "user_1",
    "created_at": "2024-01-01T00:00:00Z",
    "limit_price": "$25.60",
    "instance_quantity": 1,
    "instance_type": "it_1",
    "instances": [],
    "launch_specification": {"volumes": [], "ssh_keys": []},
    "status": "Open",
}


class UpperBoundRng:
    """Jitter source that always picks the top of the range, so waits are predictable."""

    def uniform(self, low: float, high: float) -> float:
        return high


def _scripted(*answers):
    """A handler that plays ``answers`` in order (the last repeats); exceptions are raised."""
    queue = list(answers)

    def handler(request):
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


def _client(handler, *, max_attempts=4, threshold=100, total_deadline=75.0, on_retry=None):
    transport = MockTransport(handler)
    sleeps: list[float] = []
    retry = RetryPolicy(
        max_attempts=max_attempts, rng=UpperBoundRng(), total_deadline=total_deadline
    )
    client = ApiClient(
        API_KEY,
        base_url=BASE,
        transport=transport,
        retry=retry,
        breaker=CircuitBreaker(failure_threshold=threshold),
        sleep=sleeps.append,
        on_retry=on_retry,
    )
    return client, transport, sleeps


def _ok(payload=BID, status=200):
    return TransportResponse.json_body(status, payload)


def _status(status, **headers):
    return TransportResponse.json_body(status, {"detail": "try later"}, headers)


def _bid_request():
    return dto.CreateBidRequest(
        project="proj_1",
        region="r",
        instance_type="it_1",
        limit_price="$1.00",
        instance_quantity=1,
        name="flow-task-1",
        launch_specification=dto.LaunchSpecificationModel(volumes=[], ssh_keys=[]),
    )


def test_get_is_retried_on_503_until_it_succeeds():
    client, transport, sleeps = _client(_scripted(_status(503), _status(503), _ok()))

    assert client.get_bid("bid_1").fid == "bid_1"

    assert len(transport.requests) == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_each_retryable_server_status_is_retried(status):
    client, transport, _ = _client(_scripted(_status(status), _ok()))
    client.get_bid("bid_1")
    assert len(transport.requests) == 2


def test_retries_stop_after_max_attempts_and_raise_unavailable():
    client, transport, sleeps = _client(_scripted(_status(503)), max_attempts=3)

    with pytest.raises(ProviderUnavailableError, match="HTTP 503") as raised:
        client.get_bid("bid_1")

    assert len(transport.requests) == 3
    assert len(sleeps) == 2
    assert isinstance(raised.value.__cause__, HTTPStatusError)


def test_429_waits_exactly_what_retry_after_says():
    client, transport, sleeps = _client(_scripted(_status(429, **{"Retry-After": "7"}), _ok()))

    client.get_bid("bid_1")

    assert sleeps == [7.0]
    assert len(transport.requests) == 2


def test_429_that_never_clears_raises_rate_limited_with_retry_after():
    client, transport, sleeps = _client(
        _scripted(_status(429, **{"retry-after": "2"})), max_attempts=2
    )

    with pytest.raises(RateLimitedError) as raised:
        client.get_bid("bid_1")

    assert raised.value.retry_after == 2.0
    assert sleeps == [2.0]
    assert len(transport.requests) == 2


def test_429_asking_for_longer_than_the_cap_is_not_waited_out():
    client, transport, sleeps = _client(_scripted(_status(429, **{"Retry-After": "3600"})))

    with pytest.raises(RateLimitedError) as raised:
        client.get_bid("bid_1")

    assert raised.value.retry_after == 3600.0
    assert sleeps == []
    assert len(transport.requests) == 1


def test_a_429_storm_is_bounded_by_the_total_deadline_and_each_wait_is_reported():
    shown: list[str] = []
    client, transport, sleeps = _client(
        _scripted(_status(429, **{"Retry-After": "60"})), on_retry=shown.append
    )

    with pytest.raises(RateLimitedError) as raised:
        client.list_projects()

    assert sleeps == [60.0]  # a second 60 s wait would pass the 75 s deadline
    assert len(transport.requests) == 2
    assert shown == ["rate-limited, retrying in 60 s, attempt 2/4"]
    assert "\n" not in str(raised.value)


def test_server_errors_report_their_waits_and_stop_at_the_deadline():
    shown: list[str] = []
    client, transport, sleeps = _client(
        _scripted(_status(503)), total_deadline=3.5, on_retry=shown.append
    )
    client._http.retry.base_delay = 1.0  # waits of 1, 2, 4 s (the top of the jitter)

    with pytest.raises(ProviderUnavailableError):
        client.list_projects()

    assert sleeps == [1.0, 2.0]
    assert shown == [
        "Mithril API unavailable (HTTP 503), retrying in 1 s, attempt 2/4",
        "Mithril API unavailable (HTTP 503), retrying in 2 s, attempt 3/4",
    ]


def test_create_bid_is_not_retried_on_503():
    client, transport, sleeps = _client(_scripted(_status(503), _ok(status=201)))

    with pytest.raises(ProviderUnavailableError):
        client.create_bid(_bid_request())

    assert len(transport.requests) == 1
    assert sleeps == []


def test_create_bid_marked_idempotent_is_retried():
    client, transport, _ = _client(_scripted(_status(503), _ok(status=201)))

    assert client.create_bid(_bid_request(), idempotent=True).fid == "bid_1"

    assert len(transport.requests) == 2


def test_create_bid_is_not_retried_after_a_timeout_that_may_have_reached_the_server():
    client, transport, _ = _client(_scripted(TransportError("read timed out"), _ok(status=201)))

    with pytest.raises(ProviderUnavailableError, match="unreachable") as raised:
        client.create_bid(_bid_request())

    assert len(transport.requests) == 1
    assert isinstance(raised.value.__cause__, TransportError)


def test_create_bid_is_resent_when_the_connection_never_opened():
    refused = TransportError("connection refused", request_sent=False)
    client, transport, _ = _client(_scripted(refused, _ok(status=201)))

    client.create_bid(_bid_request())

    assert len(transport.requests) == 2


def test_volume_and_key_creation_are_not_retried():
    client, transport, _ = _client(_scripted(_status(502)))
    with pytest.raises(ProviderUnavailableError):
        client.create_volume(
            dto.CreateVolumeRequest(
                name="data", project="p", disk_interface="Block", region="r", size_gb=1
            )
        )
    with pytest.raises(ProviderUnavailableError):
        client.create_ssh_key(dto.CreateSshKeyRequest(project="p", name="k"))
    assert len(transport.requests) == 2


def test_connection_errors_on_get_are_retried():
    client, transport, sleeps = _client(_scripted(TransportError("connection reset"), _ok()))

    client.get_bid("bid_1")

    assert len(transport.requests) == 2
    assert sleeps == [0.5]


def test_cancel_and_update_bid_are_retried_because_they_set_a_state():
    client, transport, _ = _client(
        _scripted(_status(502), TransportResponse(204), _status(504), _ok())
    )

    client.cancel_bid("bid_1")
    client.update_bid("bid_1", dto.UpdateBidRequest(paused=True))

    assert [r.method for r in transport.requests] == ["DELETE", "DELETE", "PATCH", "PATCH"]


def test_client_errors_are_not_retried():
    client, transport, sleeps = _client(_scripted(_status(404)))
    with pytest.raises(NotFoundError):
        client.get_bid("bid_x")
    assert len(transport.requests) == 1
    assert sleeps == []


def test_retry_log_lines_do_not_contain_the_api_key(caplog):
    caplog.set_level(logging.DEBUG)
    client, _, _ = _client(_scripted(_status(503), TransportError("reset"), _ok()))
    client.get_bid("bid_1")
    assert "retry" in caplog.text
    assert API_KEY not in caplog.text


def test_backoff_doubles_up_to_the_cap_with_full_jitter():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rng=UpperBoundRng())
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    jittered = RetryPolicy(base_delay=0.5, max_delay=4.0)
    waits = [jittered.backoff(3) for _ in range(200)]
    assert all(0.0 <= wait <= 2.0 for wait in waits)
    assert len(set(waits)) > 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Mon, 01 Jan 2024 00:00:30 GMT", 30.0),
        ("Mon, 01 Jan 2024 00:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, expected):
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after(header, now=now) == expected
