"""Walks the spec's operations: every one the sandbox serves answers with spec-valid bodies.

One scenario calls each served operation with a good request (positive case) and checks
the answer against the operation's response schema; then, per operation, requests the
spec refuses (missing required query, a body that is not an object, an unknown fid, no
key) must get spec-shaped errors. The sandbox's own route list (its FastAPI OpenAPI
page) says which operations it serves, so a new route is walked here too, and one with
no positive case fails the test by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from flow_notebook.sandbox.testing import start_sandbox, stop_sandbox, wait_for
from flow_notebook.sandbox.validation import response_problems, spec_index

Context = dict[str, Any]


@dataclass
class Step:
    """One positive call: ``path`` may name context values as ``{key}``."""

    method: str
    template: str
    status: int
    json: Callable[[Context], Any] | None = None
    params: Callable[[Context], dict[str, Any]] = field(default=lambda c: {})
    keep: Callable[[Context, Any], None] | None = None
    then: Callable[[Any, Context], Any] | None = None


def _later(hours: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


def _keep(key: str, field_name: str = "fid") -> Callable[[Context, Any], None]:
    def keep(context: Context, body: Any) -> None:
        context[key] = body[field_name]

    return keep


def _project(c: Context) -> dict[str, Any]:
    return {"project": c["project"]}


def _where(c: Context) -> dict[str, Any]:
    return {"project": c["project"], "instance_type": c["instance_type"], "region": c["region"]}


def _window(start_hours: int, end_hours: int) -> dict[str, str]:
    return {"start_time": _later(start_hours), "end_time": _later(end_hours)}


def _reserved_instance_running(sandbox: Any, c: Context) -> None:
    params = {"project": c["project"], "reservation_fid_in": c["reservation_fid"]}

    def running() -> list[dict[str, Any]]:
        found = sandbox.api("GET", "/v2/instances", params=params).json()["data"]
        return [i for i in found if i["status"] == "STATUS_RUNNING"]

    c["instance_fid"] = wait_for(running, timeout=30)[0]["fid"]


def _instance_status(status: str) -> Callable[[Any, Context], Any]:
    def reached(sandbox: Any, c: Context) -> Any:
        path = f"/v2/instances/{c['instance_fid']}/status"
        return wait_for(lambda: sandbox.api("GET", path).json()["status"] == status, timeout=30)

    return reached


def _first_auction(c: Context, body: Any) -> None:
    c["instance_type"] = body[0]["instance_type"]
    c["region"] = body[0]["region"]


SCENARIO = [
    Step("GET", "/v2/me", 200),
    Step("GET", "/v2/me/teammates", 200),
    Step("GET", "/v2/projects", 200),
    Step("GET", "/v2/instance-types", 200),
    Step("GET", "/v2/spot/availability", 200, keep=_first_auction),
    Step("GET", "/v2/quotas", 200, params=_project),
    Step(
        "GET",
        "/v2/pricing/current",
        200,
        params=lambda c: {"instance_type": c["instance_type"], "region": c["region"]},
    ),
    Step("GET", "/v2/pricing/history", 200, params=lambda c: {"num_samples": 5}),
    Step(
        "POST",
        "/v2/ssh-keys",
        201,
        json=lambda c: {"project": c["project"], "name": "walk"},
        keep=_keep("ssh_key_fid"),
    ),
    Step("GET", "/v2/ssh-keys", 200, params=_project),
    Step("PATCH", "/v2/ssh-keys/{ssh_key_fid}", 200, json=lambda c: {"required": False}),
    Step(
        "POST",
        "/v2/volumes",
        201,
        json=lambda c: {
            "project": c["project"],
            "name": "walk-vol",
            "disk_interface": "File",
            "region": c["region"],
            "size_gb": 1,
        },
        keep=_keep("volume_fid"),
    ),
    Step("GET", "/v2/volumes", 200, params=_project),
    Step("PATCH", "/v2/volumes/{volume_fid}", 200, json=lambda c: {"name": "walk-vol-2"}),
    Step(
        "POST",
        "/v2/spot/bids",
        201,
        json=lambda c: {
            "project": c["project"],
            "region": c["region"],
            "instance_type": c["instance_type"],
            "limit_price": "$99.00",
            "instance_quantity": 1,
            "name": "walk",
            "launch_specification": {
                "volumes": [c["volume_fid"]],
                "ssh_keys": [c["ssh_key_fid"]],
                "startup_script": "echo hi",
            },
        },
        keep=_keep("bid_fid"),
        then=lambda sandbox, c: wait_for(lambda: sandbox.instances_of(c["bid_fid"]), timeout=10),
    ),
    Step("GET", "/v2/spot/bids", 200, params=lambda c: {**_project(c), "limit": 5}),
    Step("GET", "/v2/spot/bids/{bid_fid}", 200),
    Step("PATCH", "/v2/spot/bids/{bid_fid}", 200, json=lambda c: {"limit_price": "$98.00"}),
    Step("GET", "/v2/spot/bids/{bid_fid}/status", 200),
    Step("GET", "/v2/spot/bids/{bid_fid}/history", 200),
    Step(
        "GET",
        "/v2/instances",
        200,
        params=lambda c: {**_project(c), "bid_fid_in": c["bid_fid"]},
        keep=lambda c, body: c.update(instance_fid=body["data"][0]["fid"]),
    ),
    Step("GET", "/v2/instances/{instance_fid}/status", 200),
    Step("DELETE", "/v2/spot/bids/{bid_fid}", 204),
    Step(
        "GET",
        "/v2/image-versions",
        200,
        keep=lambda c, b: c.update(image=b[-1]["image_version_fid"]),
    ),
    Step("GET", "/v2/mcc-image-versions", 200, params=lambda c: {"region": c["region"]}),
    Step("GET", "/v2/reservation/instance-types", 200),
    Step(
        "GET",
        "/v2/reservation/quote",
        200,
        params=lambda c: {**_where(c), **_window(0, 2), "quantity": 1},
    ),
    Step("GET", "/v2/reservation/availability", 200, params=_where),
    Step(
        "POST",
        "/v2/reservation",
        201,
        json=lambda c: {
            **_where(c),
            "start_time": _later(0),
            "end_time": _later(2),
            "instance_quantity": 1,
            "name": "walk-reserved",
            "launch_specification": {"volumes": [], "ssh_keys": [c["ssh_key_fid"]]},
        },
        keep=_keep("reservation_fid"),
        then=_reserved_instance_running,
    ),
    Step("GET", "/v2/reservation", 200, params=_project),
    Step("GET", "/v2/reservation/{reservation_fid}/extension-availability", 200),
    Step(
        "POST",
        "/v2/reservation/{reservation_fid}/extend",
        200,
        json=lambda c: {"end_time": _later(3)},
    ),
    Step("PATCH", "/v2/reservation/{reservation_fid}", 200, json=lambda c: {"volumes": []}),
    Step("GET", "/v2/reservation/{reservation_fid}/history", 200),
    Step("GET", "/v2/reservation/{reservation_fid}/usage", 200),
    Step(
        "PATCH",
        "/v2/instances",
        200,
        json=lambda c: {"instances": [c["instance_fid"]], "status": "STATUS_PAUSED"},
        then=_instance_status("STATUS_PAUSED"),
    ),
    Step(
        "POST",
        "/v2/instances/{instance_fid}/refresh-boot-disk",
        200,
        json=lambda c: {"image_version": c["image"]},
    ),
    Step("GET", "/v2/instances/status/history", 200, params=_project),
    Step("GET", "/v2/instances/pricing/history", 200, params=_project),
    Step(
        "POST",
        "/v2/reservation/{reservation_fid}/terminate-instances",
        200,
        json=lambda c: {"instances": [c["instance_fid"]], "reduce_capacity": True},
    ),
    Step(
        "POST",
        "/v2/lifecycle-scripts",
        201,
        json=lambda c: {"project": c["project"], "name": "walk", "content": "echo hi"},
        keep=_keep("ls_fid"),
    ),
    Step("GET", "/v2/lifecycle-scripts", 200, params=_project),
    Step("GET", "/v2/lifecycle-scripts/{ls_fid}/content", 200),
    Step("PATCH", "/v2/lifecycle-scripts/{ls_fid}", 200, json=lambda c: {"name": "walk-2"}),
    Step("DELETE", "/v2/lifecycle-scripts/{ls_fid}", 204),
    Step(
        "POST",
        "/v2/kubernetes/clusters",
        201,
        json=lambda c: {
            "name": "walk",
            "project": c["project"],
            "region": c["region"],
            "ssh_keys": [c["ssh_key_fid"]],
            "instance_type": c["instance_type"],
        },
        keep=_keep("cluster_fid"),
    ),
    Step("GET", "/v2/kubernetes/clusters", 200, params=_project),
    Step("GET", "/v2/kubernetes/clusters/{cluster_fid}", 200),
    Step("DELETE", "/v2/kubernetes/clusters/{cluster_fid}", 204),
    Step("DELETE", "/v2/volumes/{volume_fid}", 204),
    Step("DELETE", "/v2/ssh-keys/{ssh_key_fid}", 204),
    Step(
        "POST",
        "/v2/api-keys",
        201,
        json=lambda c: {"name": "walk", "expires_at": _later(1)},
        keep=_keep("key_fid"),
    ),
    Step("GET", "/v2/api-keys", 200),
    Step("DELETE", "/v2/api-keys/{key_fid}", 204),
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    handle = start_sandbox(tmp_path_factory.mktemp("walk"), "--no-instances")
    yield handle
    stop_sandbox(handle)


def served_operations(sandbox) -> set[tuple[str, str]]:
    """The ``/v2/`` operations the sandbox routes, from its own OpenAPI page."""
    page = requests.get(f"{sandbox.url}/_sandbox/openapi.json", timeout=10).json()
    return {
        (method.upper(), path)
        for path, item in page["paths"].items()
        if path.startswith("/v2/")
        for method in item
    }


def spec_operations() -> set[tuple[str, str]]:
    return {(op.method, op.path) for op in spec_index().operations}


def test_every_served_route_is_an_operation_of_the_spec(sandbox):
    served = served_operations(sandbox)
    assert len(served) >= 25
    assert served - spec_operations() == set()


def test_every_served_operation_answers_a_good_request_with_a_spec_valid_body(sandbox):
    context: Context = {"project": sandbox.project}
    problems: list[str] = []
    walked: set[tuple[str, str]] = set()
    for step in SCENARIO:
        if (step.method, step.template) not in served_operations(sandbox):
            continue  # the sandbox does not serve it; the coverage check below says so
        path = step.template.format(**context)
        body = step.json(context) if step.json else None
        response = sandbox.api(step.method, path, params=step.params(context), json=body)
        assert response.status_code == step.status, f"{step.method} {path}: {response.text}"
        problems += response_problems(
            spec_index(), step.method, path, response.status_code, response.content
        )
        if step.keep:
            step.keep(context, response.json())
        walked.add((step.method, step.template))
        if step.then:
            step.then(sandbox, context)
    assert problems == []
    assert served_operations(sandbox) - walked == set(), "served operations without a case"


def _unknown_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "unknown_fid_0", template)


def test_each_served_operation_refuses_bad_requests_in_the_spec_shape(sandbox):
    index = spec_index()
    problems: list[str] = []
    checked = 0
    for method, template in sorted(served_operations(sandbox)):
        operation = index.find(method, _unknown_path(template))
        assert operation is not None and operation.path == template
        path = _unknown_path(template)
        bad: list[tuple[str, dict[str, Any], Any, int]] = []
        required = [p.name for p in operation.query if p.required]
        if required:
            bad.append(("missing query", {}, None, 422))
        if operation.body_schema is not None:
            query = {name: "x" for name in required}
            bad.append(("body not an object", query, [], 422))
        if "{" in template and not required and operation.body_schema is None:
            bad.append(("unknown fid", {}, None, 404))
        bad.append(("no key", {}, None, 401))
        for what, params, body, status in bad:
            headers = {"Authorization": "Bearer fkey_wrong"} if what == "no key" else {}
            response = sandbox.api(method, path, params=params, json=body, headers=headers)
            if response.status_code != status:
                problems.append(f"{method} {template} {what}: {response.status_code}")
            problems += response_problems(index, method, path, status, response.content)
            checked += 1
    assert checked >= 40
    assert problems == []
