"""ApiClient endpoints: each typed method sends the right request and parses the answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from flow_notebook.core.config import load_config
from flow_notebook.core.errors import (
    AuthenticationError,
    ProviderResponseError,
)
from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    MockTransport,
    RetryPolicy,
    TransportRequest,
    TransportResponse,
    dto,
)

API_KEY = "fkey_UNIT_TEST_SECRET_5c1d"
BASE = "http://127.0.0.1:9"
WHEN = "2024-01-01T00:00:00Z"

Answer = TransportResponse | Callable[[TransportRequest], TransportResponse]


def json_answer(status: int, payload: object, **headers: str) -> TransportResponse:
    return TransportResponse.json_body(status, payload, headers)


class Router:
    """Answers by (method, path); queued answers are used up in order, the last one repeats."""

    def __init__(self, routes: dict[tuple[str, str], Answer | list[Answer]]) -> None:
        self.routes = {key: list(v) if isinstance(v, list) else [v] for key, v in routes.items()}

    def __call__(self, request: TransportRequest) -> TransportResponse:
        path = request.url.removeprefix(BASE)
        queue = self.routes.get((request.method, path))
        if queue is None:
            return json_answer(404, {"detail": f"no route {request.method} {path}"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else answer


def make_client(
    routes: dict[tuple[str, str], Answer | list[Answer]] | Callable | None = None,
    *,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    api_key: str | None = API_KEY,
) -> tuple[ApiClient, MockTransport, list[float]]:
    handler = routes if callable(routes) else Router(routes or {})
    transport = MockTransport(handler)
    sleeps: list[float] = []
    client = ApiClient(
        api_key,
        base_url=BASE,
        transport=transport,
        retry=retry or RetryPolicy(max_attempts=4),
        breaker=breaker or CircuitBreaker(failure_threshold=100),
        sleep=sleeps.append,
    )
    return client, transport, sleeps


def bid(**overrides: object) -> dict:
    payload = {
        "fid": "bid_1",
        "name": "flow-task",
        "project": "proj_1",
        "created_by": "user_1",
        "created_at": WHEN,
        "limit_price": "$25.60",
        "instance_quantity": 1,
        "instance_type": "it_1",
        "instances": [],
        "launch_specification": {"volumes": [], "ssh_keys": ["sshkey_1"]},
        "status": "Open",
    }
    return {**payload, **overrides}


def instance(**overrides: object) -> dict:
    payload = {
        "fid": "inst_1",
        "name": "flow-task-0",
        "project": "proj_1",
        "created_at": WHEN,
        "created_by": "user_1",
        "instance_type": "it_1",
        "bid": "bid_1",
        "ssh_destination": "127.0.0.1:2222",
        "status": "STATUS_RUNNING",
    }
    return {**payload, **overrides}


def volume(**overrides: object) -> dict:
    payload = {
        "fid": "vol_1",
        "name": "data",
        "region": "us-central1-a",
        "created_at": WHEN,
        "deleted_at": None,
        "capacity_gb": 10,
        "project": "proj_1",
        "interface": "Block",
        "bids": [],
        "reservations": [],
        "attachments": {},
    }
    return {**payload, **overrides}


def ssh_key(**overrides: object) -> dict:
    payload = {
        "fid": "sshkey_1",
        "name": "laptop",
        "project": "proj_1",
        "public_key": "ssh-ed25519 AAAA",
        "created_at": WHEN,
        "required": False,
    }
    return {**payload, **overrides}


def instance_type(**overrides: object) -> dict:
    payload = {
        "fid": "it_1",
        "name": "h100.80gb.sxm",
        "num_cpus": 192,
        "cpu_type": "Intel",
        "ram_gb": 1800,
        "num_gpus": 8,
        "gpu_type": "H100",
        "gpu_memory_gb": 80,
        "gpu_socket": "SXM5",
        "local_storage_gb": 7800,
        "ib_count": 8,
        "bridge_count": 4,
    }
    return {**payload, **overrides}


def auction(**overrides: object) -> dict:
    payload = {
        "fid": "auc_1",
        "instance_type": "it_1",
        "region": "us-central1-a",
        "capacity": 4,
        "last_instance_price": "$10.00",
        "adjustable_memory": False,
    }
    return {**payload, **overrides}


def _bid_request() -> dto.CreateBidRequest:
    return dto.CreateBidRequest(
        project="proj_1",
        region="us-central1-a",
        instance_type="it_1",
        limit_price="$25.60",
        instance_quantity=1,
        name="flow-task-ab12",
        launch_specification=dto.LaunchSpecificationModel(
            volumes=["vol_1"], ssh_keys=["sshkey_1"], startup_script="#!/bin/bash\necho hi"
        ),
    )


# (call, method, path, query, body, status, answer, check)
ENDPOINTS = [
    pytest.param(
        lambda c: c.get_me(),
        "GET", "/v2/me", {}, None, 200,
        {"id": "u", "fid": "user_1", "email": "a@b.c", "organization_id": "org_1"},
        lambda r: r.fid == "user_1",
        id="get_me",
    ),
    pytest.param(
        lambda c: c.list_teammates(),
        "GET", "/v2/me/teammates", {}, None, 200,
        [{"id": "u", "fid": "user_2", "project_ids": ["proj_1"]}],
        lambda r: r[0].fid == "user_2",
        id="list_teammates",
    ),
    pytest.param(
        lambda c: c.list_projects(),
        "GET", "/v2/projects", {}, None, 200,
        [{"fid": "proj_1", "name": "research", "created_at": WHEN}],
        lambda r: r[0].name == "research",
        id="list_projects",
    ),
    pytest.param(
        lambda c: c.get_quotas("proj_1"),
        "GET", "/v2/quotas", {"project": "proj_1"}, None, 200,
        [{"fid": "q1", "project": "proj_1", "product_type": "Spot", "total_quantity": 8,
          "used_quantity": 2, "units": "instances", "name": "H100"}],
        lambda r: r[0].used_quantity == 2,
        id="get_quotas",
    ),
    pytest.param(
        lambda c: c.list_instance_types(),
        "GET", "/v2/instance-types", {}, None, 200, [instance_type()],
        lambda r: r[0].num_gpus == 8,
        id="list_instance_types",
    ),
    pytest.param(
        lambda c: c.list_spot_availability(),
        "GET", "/v2/spot/availability", {}, None, 200, [auction()],
        lambda r: r[0].last_instance_price == "$10.00",
        id="list_spot_availability",
    ),
    pytest.param(
        lambda c: c.get_current_prices("it_1", region="us-central1-a", instance_quantity=2),
        "GET", "/v2/pricing/current",
        {"instance_type": "it_1", "region": "us-central1-a", "instance_quantity": "2"},
        None, 200, {"spot_price_cents": 1200, "available_capacity": 3},
        lambda r: r.spot_price_cents == 1200 and r.minimum_price_cents is None,
        id="get_current_prices",
    ),
    pytest.param(
        lambda c: c.get_price_history(instance_types=["it_1", "it_2"], num_samples=10),
        "GET", "/v2/pricing/history", {"instance_types": "it_1,it_2", "num_samples": "10"},
        None, 200,
        {"series": [{"instance_type": "it_1", "region": "r", "timestamps": [WHEN],
                     "spot_prices": ["$1.00"], "reserved_prices": ["$2.00"]}]},
        lambda r: r.series[0].spot_prices == ["$1.00"] and r.complete,
        id="get_price_history",
    ),
    pytest.param(
        lambda c: c.list_bids("proj_1", status="Allocated", limit=50, next_cursor="cur_2"),
        "GET", "/v2/spot/bids",
        {"project": "proj_1", "status": "Allocated", "limit": "50", "next_cursor": "cur_2"},
        None, 200, {"data": [bid(status="Allocated")], "next_cursor": None},
        lambda r: r.data[0].status == "Allocated" and r.next_cursor is None,
        id="list_bids",
    ),
    pytest.param(
        lambda c: c.create_bid(_bid_request()),
        "POST", "/v2/spot/bids", {}, _bid_request().to_json(), 201, bid(name="flow-task-ab12"),
        lambda r: r.name == "flow-task-ab12",
        id="create_bid",
    ),
    pytest.param(
        lambda c: c.get_bid("bid_1"),
        "GET", "/v2/spot/bids/bid_1", {}, None, 200, bid(),
        lambda r: r.limit_price == "$25.60",
        id="get_bid",
    ),
    pytest.param(
        lambda c: c.update_bid("bid_1", dto.UpdateBidRequest(paused=True)),
        "PATCH", "/v2/spot/bids/bid_1", {}, {"paused": True}, 200, bid(status="Paused"),
        lambda r: r.status == "Paused",
        id="update_bid",
    ),
    pytest.param(
        lambda c: c.cancel_bid("bid_1"),
        "DELETE", "/v2/spot/bids/bid_1", {}, None, 204, None,
        lambda r: r is None,
        id="cancel_bid",
    ),
    pytest.param(
        lambda c: c.get_bid_status("bid_1"),
        "GET", "/v2/spot/bids/bid_1/status", {}, None, 200,
        {"bid_fid": "bid_1", "status": "Relocating"},
        lambda r: r.status == "Relocating",
        id="get_bid_status",
    ),
    pytest.param(
        lambda c: c.get_bid_history("bid_1"),
        "GET", "/v2/spot/bids/bid_1/history", {}, None, 200,
        {"bid_fid": "bid_1", "events": [{"timestamp": WHEN, "event_type": "Placed"}]},
        lambda r: r.events[0].event_type == "Placed",
        id="get_bid_history",
    ),
    pytest.param(
        lambda c: c.list_instances(
            "proj_1", bid_fid_in=["bid_1", "bid_2"], status_in=["STATUS_RUNNING"], limit=10
        ),
        "GET", "/v2/instances",
        {"project": "proj_1", "bid_fid_in": "bid_1,bid_2", "status_in": "STATUS_RUNNING",
         "limit": "10"},
        None, 200, {"data": [instance()]},
        lambda r: r.data[0].ssh_destination == "127.0.0.1:2222",
        id="list_instances",
    ),
    pytest.param(
        lambda c: c.get_instance_status("inst_1"),
        "GET", "/v2/instances/inst_1/status", {}, None, 200,
        {"fid": "inst_1", "name": "n", "status": "STATUS_STARTING"},
        lambda r: r.status == "STATUS_STARTING",
        id="get_instance_status",
    ),
    pytest.param(
        lambda c: c.list_volumes("proj_1", region="us-central1-a"),
        "GET", "/v2/volumes",
        {"project": "proj_1", "region": "us-central1-a", "include_deleted": "false"},
        None, 200, [volume()],
        lambda r: r[0].deleted_at is None and r[0].interface == "Block",
        id="list_volumes",
    ),
    pytest.param(
        lambda c: c.create_volume(
            dto.CreateVolumeRequest(
                name="data", project="proj_1", disk_interface="File", region="r", size_gb=10
            )
        ),
        "POST", "/v2/volumes", {},
        {"name": "data", "project": "proj_1", "disk_interface": "File", "region": "r",
         "size_gb": 10},
        201, volume(interface="File"),
        lambda r: r.interface == "File",
        id="create_volume",
    ),
    pytest.param(
        lambda c: c.update_volume("vol_1", dto.UpdateVolumeRequest(name="renamed")),
        "PATCH", "/v2/volumes/vol_1", {}, {"name": "renamed"}, 200, volume(name="renamed"),
        lambda r: r.name == "renamed",
        id="update_volume",
    ),
    pytest.param(
        lambda c: c.delete_volume("vol_1"),
        "DELETE", "/v2/volumes/vol_1", {}, None, 204, None,
        lambda r: r is None,
        id="delete_volume",
    ),
    pytest.param(
        lambda c: c.list_ssh_keys("proj_1"),
        "GET", "/v2/ssh-keys", {"project": "proj_1"}, None, 200, [ssh_key()],
        lambda r: r[0].public_key.startswith("ssh-ed25519"),
        id="list_ssh_keys",
    ),
    pytest.param(
        lambda c: c.create_ssh_key(dto.CreateSshKeyRequest(project="proj_1", name="gen")),
        "POST", "/v2/ssh-keys", {}, {"project": "proj_1", "name": "gen", "required": False},
        201, ssh_key(name="gen", private_key="-----BEGIN KEY-----x"),
        lambda r: r.private_key.startswith("-----BEGIN"),
        id="create_ssh_key",
    ),
    pytest.param(
        lambda c: c.update_ssh_key("sshkey_1", dto.UpdateSshKeyRequest(required=True)),
        "PATCH", "/v2/ssh-keys/sshkey_1", {}, {"required": True}, 200, ssh_key(required=True),
        lambda r: r.required,
        id="update_ssh_key",
    ),
    pytest.param(
        lambda c: c.delete_ssh_key("sshkey_1"),
        "DELETE", "/v2/ssh-keys/sshkey_1", {}, None, 204, None,
        lambda r: r is None,
        id="delete_ssh_key",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "status", "answer", "check"), ENDPOINTS
)
def test_typed_method_sends_the_spec_request_and_parses_the_answer(
    call, method, path, query, body, status, answer, check
):
    reply = json_answer(status, answer) if answer is not None else TransportResponse(status)
    client, transport, _ = make_client({(method, path): reply})

    result = call(client)

    assert check(result)
    [sent] = transport.requests
    assert (sent.method, sent.url) == (method, BASE + path)
    assert dict(sent.params) == query
    assert sent.json == body
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.timeout == (5.0, 30.0)


def test_ids_are_quoted_so_they_cannot_change_the_path():
    client, transport, _ = make_client(lambda request: json_answer(200, bid()))
    client.get_bid("../me?x=1")
    assert transport.requests[0].url == f"{BASE}/v2/spot/bids/..%2Fme%3Fx%3D1"


def test_iter_bids_follows_next_cursor_across_pages():
    pages = [
        json_answer(200, {"data": [bid(fid="bid_1"), bid(fid="bid_2")], "next_cursor": "c2"}),
        json_answer(200, {"data": [bid(fid="bid_3")], "next_cursor": "c3"}),
        json_answer(200, {"data": [], "next_cursor": None}),
    ]
    client, transport, _ = make_client({("GET", "/v2/spot/bids"): pages})

    fids = [item.fid for item in client.iter_bids("proj_1", status="Open", page_size=2)]

    assert fids == ["bid_1", "bid_2", "bid_3"]
    cursors = [request.params.get("next_cursor") for request in transport.requests]
    assert cursors == [None, "c2", "c3"]
    assert all(request.params["status"] == "Open" for request in transport.requests)
    assert all(request.params["limit"] == "2" for request in transport.requests)


def test_iter_instances_follows_next_cursor_and_keeps_filters():
    pages = [
        json_answer(200, {"data": [instance(fid="inst_1")], "next_cursor": "c2"}),
        json_answer(200, {"data": [instance(fid="inst_2")]}),
    ]
    client, transport, _ = make_client({("GET", "/v2/instances"): pages})

    fids = [item.fid for item in client.iter_instances("proj_1", bid_fid_in=["bid_1"])]

    assert fids == ["inst_1", "inst_2"]
    assert [r.params.get("next_cursor") for r in transport.requests] == [None, "c2"]
    assert all(r.params["bid_fid_in"] == "bid_1" for r in transport.requests)


def test_pagination_is_lazy_and_stops_when_the_caller_stops():
    pages = [json_answer(200, {"data": [bid(fid=f"bid_{n}")], "next_cursor": f"c{n}"})
             for n in range(5)]  # fmt: skip
    client, transport, _ = make_client({("GET", "/v2/spot/bids"): pages})

    first = next(client.iter_bids())

    assert first.fid == "bid_0"
    assert len(transport.requests) == 1


def test_a_repeated_cursor_ends_pagination_with_an_error():
    page = json_answer(200, {"data": [bid()], "next_cursor": "same"})
    client, transport, _ = make_client({("GET", "/v2/spot/bids"): page})

    with pytest.raises(ProviderResponseError, match="repeated a page cursor"):
        list(client.iter_bids())
    assert len(transport.requests) == 2


def test_a_body_that_does_not_fit_the_model_is_a_provider_response_error():
    client, _, _ = make_client({("GET", "/v2/spot/bids/bid_1"): json_answer(200, {"fid": 1})})
    with pytest.raises(ProviderResponseError, match="GET /v2/spot/bids/bid_1"):
        client.get_bid("bid_1")


def test_a_body_that_is_not_json_is_a_provider_response_error():
    garbage = TransportResponse(200, {}, b"<html>oops</html>")
    client, _, _ = make_client({("GET", "/v2/me"): garbage})
    with pytest.raises(ProviderResponseError, match="not valid JSON"):
        client.get_me()


def test_new_fields_in_answers_are_ignored():
    client, _, _ = make_client({("GET", "/v2/spot/bids/bid_1"): json_answer(200, bid(extra=1))})
    assert client.get_bid("bid_1").fid == "bid_1"


def test_without_an_api_key_nothing_is_sent():
    client, transport, _ = make_client({}, api_key=None)
    with pytest.raises(AuthenticationError, match="no Mithril API key"):
        client.get_me()
    assert transport.requests == []


def test_repr_and_request_repr_hide_the_api_key():
    client, transport, _ = make_client({("GET", "/v2/me"): json_answer(200, {})})
    with pytest.raises(ProviderResponseError):
        client.get_me()
    assert API_KEY not in repr(client)
    assert "**********" in repr(client)
    assert API_KEY not in repr(transport.requests[0])


def test_from_config_takes_key_and_url_from_the_configuration(monkeypatch):
    monkeypatch.setenv("MITHRIL_API_KEY", API_KEY)
    monkeypatch.setenv("MITHRIL_API_URL", "http://127.0.0.1:8123/")
    transport = MockTransport(lambda request: json_answer(200, [auction()]))

    client = ApiClient.from_config(load_config(), transport=transport)
    client.list_spot_availability()

    assert client.base_url == "http://127.0.0.1:8123"
    assert transport.requests[0].url == "http://127.0.0.1:8123/v2/spot/availability"
    assert transport.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in repr(client)


def test_secret_str_keys_are_accepted():
    transport = MockTransport(lambda request: json_answer(200, []))
    client = ApiClient(SecretStr(API_KEY), base_url=BASE, transport=transport)
    client.list_projects()
    assert transport.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_close_closes_the_transport():
    client, transport, _ = make_client({})
    with client:
        pass
    assert transport.closed


def test_importing_the_client_does_not_import_requests():
    code = (
        "import sys, flow_notebook.providers.mithril.api as api; "
        "api.ApiClient('k'); print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_request_bodies_are_json_serialisable_as_sent():
    client, transport, _ = make_client({("POST", "/v2/spot/bids"): json_answer(201, bid())})
    client.create_bid(_bid_request())
    sent = transport.requests[0].json
    assert json.loads(json.dumps(sent)) == sent
    assert sent["launch_specification"]["startup_script"].startswith("#!/bin/bash")


def test_mithril_package_imports_without_the_provider_module():
    code = (
        "import sys, flow_notebook.providers.mithril as m; "
        "print('flow_notebook.providers.mithril.provider' in sys.modules, "
        "'requests' in sys.modules, 'paramiko' in sys.modules)\n"
        "try:\n    m.NoSuchThing\nexcept AttributeError as e:\n    print('AttributeError')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "AttributeError"]
