"""ApiClient error mapping: every HTTP failure becomes one class of the error tree."""

from __future__ import annotations

import pytest

from flow_notebook.core import errors
from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    MockTransport,
    RetryPolicy,
    TransportError,
    TransportResponse,
    dto,
)
from flow_notebook.providers.mithril.api.errors_map import error_for_response
from flow_notebook.providers.mithril.api.transport import HTTPStatusError

API_KEY = "fkey_ERRORS_TEST_SECRET_0b9e"


def _client(answer, *, max_attempts=1):
    def handler(request):
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport = MockTransport(handler)
    client = ApiClient(
        API_KEY,
        base_url="http://127.0.0.1:9",
        transport=transport,
        retry=RetryPolicy(max_attempts=max_attempts),
        breaker=CircuitBreaker(failure_threshold=1000),
        sleep=lambda seconds: None,
    )
    return client, transport


def _answer(status, payload=None, **headers):
    return TransportResponse.json_body(status, payload or {"detail": "boom"}, headers)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, errors.ValidationError),
        (401, errors.AuthenticationError),
        (403, errors.AuthenticationError),
        (404, errors.NotFoundError),
        (408, errors.ProviderUnavailableError),
        (409, errors.TaskStateError),
        (410, errors.NotFoundError),
        (413, errors.ValidationError),
        (418, errors.ProviderResponseError),
        (422, errors.ValidationError),
        (429, errors.RateLimitedError),
        (500, errors.ProviderUnavailableError),
        (501, errors.ProviderUnavailableError),
        (502, errors.ProviderUnavailableError),
        (503, errors.ProviderUnavailableError),
        (504, errors.ProviderUnavailableError),
        (302, errors.ProviderResponseError),
    ],
)
def test_status_maps_onto_the_error_tree_and_chains_the_original(status, error_class):
    client, _ = _client(_answer(status))

    with pytest.raises(error_class) as raised:
        client.get_bid("bid_1")

    assert type(raised.value) is error_class
    assert isinstance(raised.value.__cause__, HTTPStatusError)
    assert raised.value.__cause__.status == status
    assert "GET /v2/spot/bids/bid_1" in str(raised.value)


@pytest.mark.parametrize("status", [s for s in range(100, 600) if not 200 <= s < 300])
def test_mapping_covers_every_non_success_status_with_a_specific_one_line_error(status):
    error = error_for_response(_answer(status), "GET", "/v2/me")
    assert isinstance(error, errors.FlowError)
    assert type(error) is not errors.FlowError
    assert "\n" not in error.one_line()
    expected = {1: errors.ProviderResponseError, 3: errors.ProviderResponseError}
    if status // 100 in expected:
        assert isinstance(error, expected[status // 100])
    if status >= 500:
        assert isinstance(error, errors.ProviderUnavailableError)


def test_422_detail_entries_are_joined_into_one_line_with_the_field():
    body = {
        "detail": [
            {"loc": ["body", "name"], "msg": "string does not match pattern", "type": "x"},
            {"loc": ["query", "project"], "msg": "Field required", "type": "missing"},
        ]
    }
    client, _ = _client(_answer(422, body))

    with pytest.raises(errors.ValidationError) as raised:
        client.create_volume(
            dto.CreateVolumeRequest(
                name="data", project="p", disk_interface="Block", region="r", size_gb=1
            )
        )

    message = str(raised.value)
    assert "body.name: string does not match pattern; query.project: Field required" in message
    assert "POST /v2/volumes" in message
    assert raised.value.field == "name"
    assert "\n" not in message


def test_429_error_carries_retry_after():
    client, _ = _client(_answer(429, **{"Retry-After": "12"}))
    with pytest.raises(errors.RateLimitedError) as raised:
        client.list_projects()
    assert raised.value.retry_after == 12.0
    assert "12s" in str(raised.value)


def test_401_says_what_to_do():
    client, _ = _client(_answer(401, {"detail": "Invalid credentials"}))
    with pytest.raises(errors.AuthenticationError) as raised:
        client.get_me()
    assert "Invalid credentials" in str(raised.value)
    assert "MITHRIL_API_KEY" in raised.value.suggestion


def test_plain_text_and_html_error_bodies_stay_one_line():
    text = TransportResponse(502, {}, b"bad\ngateway\n")
    html = TransportResponse(503, {}, b"<html><body>\n<h1>503</h1></body></html>")
    assert str(error_for_response(text, "GET", "/v2/me")).count("\n") == 0
    assert "bad gateway" in str(error_for_response(text, "GET", "/v2/me"))
    assert "<html>" not in str(error_for_response(html, "GET", "/v2/me"))


def test_transport_failure_maps_to_unavailable_from_the_transport_error():
    client, _ = _client(TransportError("connection refused", request_sent=False))
    with pytest.raises(errors.ProviderUnavailableError, match="unreachable") as raised:
        client.list_projects()
    assert isinstance(raised.value.__cause__, TransportError)


def _every_error_the_client_can_raise():
    echo = {"detail": f"bad key {API_KEY}", "message": API_KEY}
    for status in (400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504, 302):
        yield _answer(status, echo)
    yield _answer(422, {"detail": [{"loc": ["header", API_KEY], "msg": API_KEY, "type": "t"}]})
    yield TransportResponse(500, {}, f"Authorization: Bearer {API_KEY}".encode())
    yield TransportError(f"failed talking with Bearer {API_KEY}")
    yield TransportResponse(200, {}, f'{{"fid": "{API_KEY}"}}'.encode())
    yield TransportResponse(200, {}, f'"{API_KEY}"'.encode())


@pytest.mark.parametrize("answer", list(_every_error_the_client_can_raise()))
def test_the_api_key_never_appears_in_any_raised_error_or_its_causes(answer):
    client, _ = _client(answer)
    with pytest.raises(errors.FlowError) as raised:
        client.get_me()
    error = raised.value
    for text in (str(error), repr(error), error.one_line(), error.suggestion or ""):
        assert API_KEY not in text
    # A transport's own TransportError is the transport's text; HTTP causes are ours.
    cause = None if isinstance(answer, TransportError) else error.__cause__
    while cause is not None:
        assert API_KEY not in str(cause)
        cause = cause.__cause__
    assert API_KEY not in repr(client)


def test_a_list_answer_that_is_not_a_list_hides_the_body_in_the_cause():
    client, _ = _client(TransportResponse.json_body(200, {"secret": API_KEY}))
    with pytest.raises(errors.ProviderResponseError) as raised:
        client.list_projects()
    assert API_KEY not in str(raised.value.__cause__)


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 429, 503, 418])
def test_an_http_error_carries_method_path_and_status_as_fields(status):
    client, _ = _client(_answer(status))

    with pytest.raises(errors.FlowError) as raised:
        client.get_bid("bid_7")

    assert raised.value.http == errors.HttpExchange("GET", "/v2/spot/bids/bid_7", status)


def test_no_answer_leaves_the_status_empty():
    client, _ = _client(TransportError("connection refused", request_sent=False))

    with pytest.raises(errors.ProviderUnavailableError) as raised:
        client.get_bid("bid_7")

    assert raised.value.http == errors.HttpExchange("GET", "/v2/spot/bids/bid_7", None)


def test_an_unreadable_success_carries_its_status():
    client, _ = _client(TransportResponse(200, {}, b"not json"))

    with pytest.raises(errors.ProviderResponseError) as raised:
        client.get_bid("bid_7")

    assert raised.value.http == errors.HttpExchange("GET", "/v2/spot/bids/bid_7", 200)


def test_errors_not_from_http_have_no_exchange():
    assert errors.ValidationError("bad --gpu").http is None
