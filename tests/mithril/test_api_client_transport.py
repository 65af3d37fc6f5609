"""RequestsTransport against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    RequestsTransport,
    RetryPolicy,
    TransportError,
    TransportRequest,
)

API_KEY = "fkey_TRANSPORT_TEST_SECRET_e41f"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer()

    def _answer(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": body,
                "client_port": self.client_address[1],
            }
        )
        status, payload, delay = server.script.pop(0) if server.script else (200, [], 0)
        if delay:
            time.sleep(delay)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Test", "yes")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    # server_close() joins handler threads, so no handler outlives its test.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request, client_address):
        # A client that gave up (the read-timeout test) leaves a broken pipe; expected.
        pass


@pytest.fixture
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    httpd.script = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _url(httpd, path="/v2/projects"):
    host, port = httpd.server_address
    return f"http://{host}:{port}{path}"


def test_sends_method_headers_query_and_json_and_returns_the_answer(server):
    transport = RequestsTransport()
    server.script.append((201, {"ok": True}, 0))
    try:
        response = transport.request(
            TransportRequest(
                method="POST",
                url=_url(server, "/v2/spot/bids"),
                headers={"Authorization": f"Bearer {API_KEY}"},
                params={"project": "proj_1"},
                json={"name": "n"},
                timeout=(2.0, 2.0),
            )
        )
    finally:
        transport.close()
    assert response.status == 201
    assert json.loads(response.body) == {"ok": True}
    assert response.header("x-test") == "yes"
    [seen] = server.seen
    assert seen["path"] == "/v2/spot/bids?project=proj_1"
    assert seen["auth"] == f"Bearer {API_KEY}"
    assert json.loads(seen["body"]) == {"name": "n"}


def test_one_pooled_connection_serves_consecutive_calls(server):
    client = ApiClient(API_KEY, base_url=_url(server, ""), transport=RequestsTransport())
    with client:
        client.list_projects()
        client.list_projects()
    ports = {seen["client_port"] for seen in server.seen}
    assert len(server.seen) == 2
    assert len(ports) == 1


def test_refused_connection_is_a_transport_error_that_was_never_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = RequestsTransport()
    request = TransportRequest(method="GET", url=f"http://127.0.0.1:{port}/v2/me")
    with pytest.raises(TransportError) as raised:
        transport.request(request)
    transport.close()
    assert raised.value.request_sent is False


def test_read_timeout_is_a_transport_error_that_may_have_been_sent(server):
    server.script.append((200, [], 0.6))
    transport = RequestsTransport()
    request = TransportRequest(method="GET", url=_url(server), timeout=(2.0, 0.2))
    with pytest.raises(TransportError) as raised:
        transport.request(request)
    transport.close()
    assert raised.value.request_sent is True


def test_client_over_real_http_retries_a_503_then_parses(server):
    server.script.extend([(503, {"detail": "busy"}, 0), (200, [], 0)])
    sleeps = []
    client = ApiClient(
        API_KEY,
        base_url=_url(server, ""),
        transport=RequestsTransport(),
        retry=RetryPolicy(max_attempts=3),
        sleep=sleeps.append,
    )
    with client:
        assert client.list_projects() == []
    assert len(server.seen) == 2
    assert len(sleeps) == 1


def test_client_over_real_http_maps_an_unreachable_api_and_hides_the_key():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ApiClient(
        API_KEY,
        base_url=f"http://127.0.0.1:{port}",
        transport=RequestsTransport(),
        retry=RetryPolicy(max_attempts=2, base_delay=0.0),
        breaker=CircuitBreaker(failure_threshold=10),
        sleep=lambda seconds: None,
    )
    with client, pytest.raises(ProviderUnavailableError, match="unreachable") as raised:
        client.get_me()
    assert API_KEY not in str(raised.value)
