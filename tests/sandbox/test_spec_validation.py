"""Requests are checked against the vendored spec, not against the client's models."""

from __future__ import annotations

import json

import pytest

from flow_notebook.sandbox.spec import load_spec
from flow_notebook.sandbox.spec.schemas import STARTUP_SCRIPT_MAX_CHARS, SpecIndex, normalize
from flow_notebook.sandbox.testing import bid_body
from flow_notebook.sandbox.validation import RequestValidator, response_problems, spec_index


@pytest.fixture(scope="module")
def validator():
    return RequestValidator(spec_index())


def bid(**launch):
    body = bid_body("proj_x")
    body["launch_specification"].update(launch)
    return json.dumps(body).encode()


def test_load_spec_is_the_vendored_mithril_document_and_a_copy():
    spec = load_spec()
    assert spec["info"]["title"] == "Mithril"
    assert spec["servers"] == [{"url": "https://api.mithril.ai"}]
    spec["paths"].clear()
    assert load_spec()["paths"]


def test_nullable_becomes_a_null_option():
    assert normalize({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert normalize({"$ref": "#/x", "nullable": True, "title": "T"}) == {
        "title": "T",
        "anyOf": [{"$ref": "#/x"}, {"type": "null"}],
    }
    assert normalize({"enum": ["a"], "type": "string", "nullable": True})["enum"] == ["a", None]


def test_a_valid_bid_has_no_problem(validator):
    assert validator.problems("POST", "/v2/spot/bids", "", bid(startup_script=None)) == []


def test_unknown_launch_specification_field_is_extra_forbidden(validator):
    [found] = validator.problems("POST", "/v2/spot/bids", "", bid(gpu_count=8))
    assert found == {
        "loc": ["body", "launch_specification", "gpu_count"],
        "msg": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    }


def test_startup_script_limit_is_ten_thousand_characters_and_never_echoed(validator):
    at_limit = "é" * STARTUP_SCRIPT_MAX_CHARS  # characters, not bytes
    assert validator.problems("POST", "/v2/spot/bids", "", bid(startup_script=at_limit)) == []
    over = "secret-ish " * 1000 + "x"
    [found] = validator.problems("POST", "/v2/spot/bids", "", bid(startup_script=over))
    assert found["loc"] == ["body", "launch_specification", "startup_script"]
    assert found["type"] == "string_too_long"
    assert "10000" in found["msg"] and "secret-ish" not in found["msg"]


def test_every_problem_is_listed_with_its_location(validator):
    body = {"project": 1, "region": "r", "limit_price": "$1", "name": "n"}
    found = validator.problems("POST", "/v2/spot/bids", "", json.dumps(body).encode())
    assert {tuple(p["loc"]): p["type"] for p in found} == {
        ("body", "project"): "string_type",
        ("body", "instance_type"): "missing",
        ("body", "instance_quantity"): "missing",
        ("body", "launch_specification"): "missing",
    }


def test_body_that_is_missing_not_json_or_not_an_object(validator):
    assert validator.problems("POST", "/v2/volumes", "", b"") == [
        {"loc": ["body"], "msg": "Field required", "type": "missing"}
    ]
    [bad_json] = validator.problems("POST", "/v2/volumes", "", b'{"name": ')
    assert bad_json["type"] == "json_invalid" and bad_json["loc"][0] == "body"
    [not_object] = validator.problems("POST", "/v2/volumes", "", b"[]")
    assert not_object["loc"] == ["body"] and not_object["type"] == "dict_type"


def test_query_types_ranges_enums_and_required(validator):
    found = validator.problems("GET", "/v2/spot/bids", "limit=abc&sort_dir=up", b"")
    assert {tuple(p["loc"]): p["type"] for p in found} == {
        ("query", "limit"): "int_type",
        ("query", "sort_dir"): "enum",
    }
    [too_big] = validator.problems("GET", "/v2/spot/bids", "limit=101", b"")
    assert too_big["type"] == "less_than_equal"
    assert validator.problems("GET", "/v2/spot/bids", "limit=100&sort_dir=asc", b"") == []
    [missing] = validator.problems("GET", "/v2/instances", "", b"")
    assert missing == {"loc": ["query", "project"], "msg": "Field required", "type": "missing"}


def test_list_queries_are_repeated_or_comma_separated(validator):
    ok = "project=p&status_in=STATUS_RUNNING,STATUS_NEW&status_in=STATUS_PAUSED"
    assert validator.problems("GET", "/v2/instances", ok, b"") == []
    [bad] = validator.problems("GET", "/v2/instances", "project=p&status_in=RUNNING", b"")
    assert bad["loc"] == ["query", "status_in", 0] and bad["type"] == "enum"


def test_times_and_booleans_follow_their_formats(validator):
    body = json.dumps({"name": "k", "expires_at": "next week"}).encode()
    [bad_time] = validator.problems("POST", "/v2/api-keys", "", body)
    assert bad_time["loc"] == ["body", "expires_at"]
    good = json.dumps({"name": "k", "expires_at": "2030-01-01T00:00:00Z"}).encode()
    assert validator.problems("POST", "/v2/api-keys", "", good) == []
    assert validator.problems("GET", "/v2/volumes", "project=p&include_deleted=true", b"") == []
    [bad_bool] = validator.problems("GET", "/v2/volumes", "project=p&include_deleted=maybe", b"")
    assert bad_bool["type"] == "bool_type"


def test_paths_outside_the_spec_are_not_checked(validator):
    assert validator.problems("POST", "/v2/not-in-the-spec", "", b"[]") == []


def test_literal_path_wins_over_a_template():
    index = SpecIndex(load_spec())
    found = index.find("GET", "/v2/instances/status/history")
    assert found is not None and found.path == "/v2/instances/status/history"
    assert index.find("GET", "/v2/instances/inst_1/status").path.endswith("{instance_fid}/status")


def test_response_check_finds_a_wrong_field_type_and_a_missing_detail():
    index = spec_index()
    good = json.dumps({"bid_fid": "bid_1", "status": "Open"}).encode()
    assert response_problems(index, "GET", "/v2/spot/bids/bid_1/status", 200, good) == []
    bad = json.dumps({"bid_fid": "bid_1", "status": "Running"}).encode()
    assert response_problems(index, "GET", "/v2/spot/bids/bid_1/status", 200, bad)
    assert (
        response_problems(index, "GET", "/v2/spot/bids/x", 404, b'{"detail": "x not found"}') == []
    )
    assert response_problems(index, "GET", "/v2/spot/bids/x", 404, b'{"error": "x"}')
    assert response_problems(index, "DELETE", "/v2/spot/bids/x", 204, b"") == []
    assert response_problems(index, "DELETE", "/v2/spot/bids/x", 204, b"{}")


# --- Over HTTP: the sandbox answers as the real API would ------------------------------


def test_unknown_launch_field_is_refused_with_422_in_the_spec_shape(mithril_sandbox):
    body = bid_body(mithril_sandbox.project)
    body["launch_specification"]["gpu_count"] = 8
    response = mithril_sandbox.api("POST", "/v2/spot/bids", json=body)
    assert response.status_code == 422
    assert response_problems(spec_index(), "POST", "/v2/spot/bids", 422, response.content) == []
    assert response.json()["detail"][0]["loc"] == ["body", "launch_specification", "gpu_count"]


def test_oversize_startup_script_is_refused_and_no_bid_is_placed(mithril_sandbox):
    name = "too-long-script"
    body = bid_body(mithril_sandbox.project, name=name, script="#" * (STARTUP_SCRIPT_MAX_CHARS + 1))
    response = mithril_sandbox.api("POST", "/v2/spot/bids", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_too_long"
    params = {"project": mithril_sandbox.project, "name": name}
    assert mithril_sandbox.api("GET", "/v2/spot/bids", params=params).json()["data"] == []


def test_bad_query_is_refused_before_the_route_runs(mithril_sandbox):
    response = mithril_sandbox.api("GET", "/v2/instances", params={"limit": "0"})
    assert response.status_code == 422
    locs = [p["loc"] for p in response.json()["detail"]]
    assert ["query", "project"] in locs and ["query", "limit"] in locs


def test_a_missing_key_is_401_before_validation(mithril_sandbox):
    import requests

    response = requests.post(f"{mithril_sandbox.url}/v2/spot/bids", json=[], timeout=10)
    assert response.status_code == 401
