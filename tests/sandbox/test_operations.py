"""Every operation of the vendored spec is served; the instance, image and cluster ones work.

Each answer is checked against the spec's schema for its status.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flow_notebook.sandbox.catalog import parse_price
from flow_notebook.sandbox.spec import load_spec
from flow_notebook.sandbox.testing import REGION, check_response, ssh_run, wait_for

SPEC_OPERATIONS = [
    (method.upper(), path)
    for path, operations in load_spec()["paths"].items()
    for method in operations
]


@pytest.mark.parametrize(("method", "route"), SPEC_OPERATIONS)
def test_every_spec_operation_is_routed(mithril_sandbox, method, route):
    path = re.sub(r"\{[^}]+\}", "zz_unknown", route)
    body = {} if method in ("POST", "PATCH") else None
    response = mithril_sandbox.api(method, path, json=body)
    assert response.status_code != 405, f"{method} {route} is not served"
    assert not (response.status_code == 404 and response.json() == {"detail": "Not Found"}), (
        f"{method} {route} has no route"
    )


def test_docs_name_every_spec_operation_in_the_operation_table():
    docs = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
    rows = {line.split("|")[1].strip() for line in docs.read_text().splitlines() if "|" in line}
    missing = [f"{m} {r}" for m, r in SPEC_OPERATIONS if f"`{m} {r}`" not in rows]
    assert not missing, f"docs/sandbox.md has no operation row for {missing}"


def _instance_type(sandbox) -> str:
    return sandbox.api("GET", "/v2/instance-types").json()[0]["fid"]


def _at(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def _reserve(sandbox, **spec) -> dict:
    body = {
        "project": sandbox.project,
        "instance_type": _instance_type(sandbox),
        "region": REGION,
        "start_time": _at(0),
        "end_time": _at(3600),
        "instance_quantity": 1,
        "name": "held",
        "launch_specification": {"volumes": [], "ssh_keys": [], **spec},
    }
    response = sandbox.api("POST", "/v2/reservation", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _instance(sandbox, fid: str) -> dict:
    response = sandbox.api("GET", f"/v2/instances/{fid}/status")
    return check_response(response, "GET", "/v2/instances/{instance_fid}/status")


def _running_reserved_instance(sandbox, **spec) -> tuple[dict, str]:
    reservation = _reserve(sandbox, **spec)
    params = {"project": sandbox.project, "reservation_fid_in": reservation["fid"]}

    def running() -> list[dict]:
        found = sandbox.api("GET", "/v2/instances", params=params).json()["data"]
        return [i for i in found if i["status"] == "STATUS_RUNNING"]

    [instance] = wait_for(running, timeout=30)
    return instance, reservation["fid"]


def _patch(sandbox, fids: list[str], status: str):
    response = sandbox.api("PATCH", "/v2/instances", json={"instances": fids, "status": status})
    return response, check_response(response, "PATCH", "/v2/instances")


def _pause(sandbox, fid: str) -> None:
    _, paused = _patch(sandbox, [fid], "STATUS_PAUSED")
    assert paused["instances"][fid] == "STATUS_STOPPING"
    wait_for(lambda: _instance(sandbox, fid)["status"] == "STATUS_PAUSED")


def _start(sandbox, instance: dict) -> str:
    """Starts a paused reserved instance; returns its new ssh_destination once it runs."""
    _, started = _patch(sandbox, [instance["fid"]], "STATUS_RUNNING")
    assert started["instances"][instance["fid"]] in (
        "STATUS_CONFIRMED",
        "STATUS_STARTING",
        "STATUS_RUNNING",
    )
    wait_for(lambda: _instance(sandbox, instance["fid"])["status"] == "STATUS_RUNNING", 30)
    params = {"project": sandbox.project, "reservation_fid_in": instance["reservation"]}
    [again] = sandbox.api("GET", "/v2/instances", params=params).json()["data"]
    return again["ssh_destination"]


def test_pause_start_keeps_the_disk_and_refresh_makes_a_fresh_one(
    fresh_sandbox, require_ssh, tmp_path
):
    sandbox = fresh_sandbox
    key_fid, key_path = sandbox.new_ssh_key(tmp_path)
    instance, _ = _running_reserved_instance(sandbox, ssh_keys=[key_fid])
    fid = instance["fid"]
    assert ssh_run(instance["ssh_destination"], key_path, "echo kept > /root/mark").returncode == 0
    check = "cat /root/mark 2>/dev/null || echo no mark"

    route = "/v2/instances/{instance_fid}/refresh-boot-disk"
    busy = sandbox.api("POST", f"/v2/instances/{fid}/refresh-boot-disk", json={})
    assert busy.status_code == 409 and "pause it first" in busy.json()["detail"]

    _pause(sandbox, fid)
    assert ssh_run(_start(sandbox, instance), key_path, check).stdout.strip() == "kept"

    _pause(sandbox, fid)
    unknown_image = sandbox.api(
        "POST", f"/v2/instances/{fid}/refresh-boot-disk", json={"image_version": "imgver_none"}
    )
    assert unknown_image.status_code == 422
    image = sandbox.api("GET", "/v2/image-versions").json()[-1]["image_version_fid"]
    response = sandbox.api(
        "POST", f"/v2/instances/{fid}/refresh-boot-disk", json={"image_version": image}
    )
    assert response.status_code == 200, response.text
    refreshed = check_response(response, "POST", route)
    assert refreshed == {"fid": fid, "image_version": image, "status": "REFRESHED"}
    assert ssh_run(_start(sandbox, instance), key_path, check).stdout.strip() == "no mark"

    history = sandbox.api(
        "GET",
        "/v2/instances/status/history",
        params={"project": sandbox.project, "instance_fid": fid},
    )
    [record] = check_response(history, "GET", "/v2/instances/status/history")["instances"]
    statuses = [e["status"] for e in record["events"]]
    assert statuses[0] == "STATUS_NEW" and statuses[-1] == "STATUS_RUNNING"
    cycle = ("STATUS_STOPPING", "STATUS_PAUSED", "STATUS_CONFIRMED")
    assert [s for s in statuses if s in cycle] == [*cycle, *cycle]
    assert record["reservation_fid"] == instance["reservation"] and record["bid_fid"] is None


def test_spot_instances_are_not_started_paused_or_refreshed(fresh_sandbox):
    sandbox = fresh_sandbox
    bid = sandbox.place_bid(price="$99.00", instance_type=_instance_type(sandbox))
    [instance] = sandbox.running_instances(bid["fid"])
    fid = instance["fid"]
    _, answer = _patch(sandbox, [fid], "STATUS_PAUSED")
    assert answer["instances"] == {fid: "STATUS_RUNNING"}
    refused = sandbox.api("POST", f"/v2/instances/{fid}/refresh-boot-disk")
    assert refused.status_code == 501

    unknown, _ = _patch(sandbox, ["inst_unknown"], "STATUS_PAUSED")
    assert unknown.status_code == 404
    bad, body = _patch(sandbox, [fid], "STATUS_TERMINATED")
    assert bad.status_code == 422 and body["detail"][0]["loc"] == ["body", "status"]
    missing = sandbox.api("POST", "/v2/instances/inst_unknown/refresh-boot-disk")
    assert missing.status_code == 404


def test_pricing_history_follows_the_spot_price_and_the_reserved_price(fresh_sandbox):
    sandbox = fresh_sandbox
    itype = _instance_type(sandbox)
    bid = sandbox.place_bid(price="$99.00", instance_type=itype)
    [spot] = sandbox.running_instances(bid["fid"])
    sandbox.set_price(itype, REGION, "$42.00")
    response = sandbox.api(
        "GET", "/v2/instances/pricing/history", params={"project": sandbox.project}
    )
    body = check_response(response, "GET", "/v2/instances/pricing/history")
    [record] = [r for r in body["instances"] if r["instance_fid"] == spot["fid"]]
    assert record["bid_fid"] == bid["fid"]
    assert record["events"][-1]["price_cents"] == 4200
    assert record["events"][-1]["end_time"] is None
    assert record["events"][0]["end_time"] == record["events"][1]["start_time"]

    reservation = _reserve(sandbox)
    wait_for(lambda: reservation["fid"] in _fids_with_instances(sandbox))
    params = {"project": sandbox.project, "reservation_fid": reservation["fid"]}
    response = sandbox.api("GET", "/v2/instances/pricing/history", params=params)
    [held] = check_response(response, "GET", "/v2/instances/pricing/history")["instances"]
    [period] = held["events"]
    assert period["price_cents"] == parse_price(reservation["unit_price"])
    assert datetime.fromisoformat(period["end_time"]) == datetime.fromisoformat(
        reservation["end_time"]
    )

    unknown = sandbox.api("GET", "/v2/instances/status/history", params={"project": "proj_x"})
    assert unknown.status_code == 404
    no_project = sandbox.api("GET", "/v2/instances/pricing/history")
    assert no_project.status_code == 422
    check_response(no_project, "GET", "/v2/instances/pricing/history")


def _fids_with_instances(sandbox) -> set[str]:
    params = {"project": sandbox.project, "order_type_in": "Reservation"}
    return {
        i["reservation"] for i in sandbox.api("GET", "/v2/instances", params=params).json()["data"]
    }


def test_image_versions_list_real_looking_images(mithril_sandbox):
    images = check_response(
        mithril_sandbox.api("GET", "/v2/image-versions"), "GET", "/v2/image-versions"
    )
    assert images and all(REGION in i["supported_regions"] for i in images)
    mcc = mithril_sandbox.api("GET", "/v2/mcc-image-versions", params={"region": REGION})
    assert check_response(mcc, "GET", "/v2/mcc-image-versions") == images
    unknown = mithril_sandbox.api("GET", "/v2/mcc-image-versions", params={"region": "mars-1"})
    assert unknown.status_code == 422


def test_kubernetes_cluster_is_recorded_pending_then_terminated(mithril_sandbox):
    sandbox = mithril_sandbox
    key = sandbox.api("POST", "/v2/ssh-keys", json={"project": sandbox.project, "name": "kc"})
    body = {
        "name": "k8s",
        "project": sandbox.project,
        "region": REGION,
        "ssh_keys": [key.json()["fid"]],
        "instance_type": _instance_type(sandbox),
    }
    response = sandbox.api("POST", "/v2/kubernetes/clusters", json=body)
    assert response.status_code == 201, response.text
    cluster = check_response(response, "POST", "/v2/kubernetes/clusters")
    assert cluster["status"] == "Pending" and cluster["kube_host"] is None
    assert cluster["k8s_version"] == "1.34"
    route = "/v2/kubernetes/clusters/{cluster_fid}"
    got = sandbox.api("GET", f"/v2/kubernetes/clusters/{cluster['fid']}")
    assert check_response(got, "GET", route) == cluster
    listed = sandbox.api("GET", "/v2/kubernetes/clusters", params={"project": sandbox.project})
    assert cluster["fid"] in [
        c["fid"] for c in check_response(listed, "GET", "/v2/kubernetes/clusters")
    ]

    assert sandbox.api("DELETE", f"/v2/kubernetes/clusters/{cluster['fid']}").status_code == 204
    after = sandbox.api("GET", f"/v2/kubernetes/clusters/{cluster['fid']}").json()
    assert after["status"] == "Terminated" and after["deleted_at"] is not None

    assert sandbox.api("GET", "/v2/kubernetes/clusters/clust_unknown").status_code == 404
    for change in ({"ssh_keys": []}, {"k8s_version": "1.0"}, {"ssh_keys": ["sshkey_nope"]}):
        bad = sandbox.api("POST", "/v2/kubernetes/clusters", json={**body, **change})
        assert bad.status_code == 422, change
        check_response(bad, "POST", "/v2/kubernetes/clusters")
