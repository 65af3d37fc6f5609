"""Teammates, bid history and instance status routes of the sandbox over real HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest

from flow_notebook.sandbox.testing import A100, REGION, wait_for

pytestmark = pytest.mark.sandbox


def events_of(handle, bid_fid, api_key=None):
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    response = handle.api("GET", f"/v2/spot/bids/{bid_fid}/history", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bid_fid"] == bid_fid
    return body["events"]


def types_of(events):
    return [e["event_type"] for e in events]


def wait_for_status(handle, bid_fid, status):
    wait_for(lambda: handle.bid_status(bid_fid) == status, timeout=10)


def test_history_of_a_paused_resumed_cancelled_bid_lists_each_change_in_order(fresh_sandbox):
    me = fresh_sandbox.api("GET", "/v2/me").json()["fid"]
    bid = fresh_sandbox.place_bid(price="$12.50")
    wait_for_status(fresh_sandbox, bid["fid"], "Allocated")
    path = f"/v2/spot/bids/{bid['fid']}"
    for paused in (True, False):
        response = fresh_sandbox.api("PATCH", path, json={"paused": paused})
        assert response.status_code == 200
    wait_for_status(fresh_sandbox, bid["fid"], "Allocated")
    assert fresh_sandbox.api("DELETE", path).status_code == 204

    events = events_of(fresh_sandbox, bid["fid"])
    assert types_of(events) == [
        "Placed",
        "Allocated",
        "Paused",
        "Resumed",
        "Allocated",
        "Terminated",
    ]
    placed, _, paused, resumed, _, terminated = events
    assert placed["limit_price"] == "$12.50"
    assert {placed["user_id"], paused["user_id"], resumed["user_id"]} == {me}
    assert terminated["user_id"] == me
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert stamps == sorted(stamps)


def test_history_of_a_preempted_bid_ends_preempted_then_terminated(fresh_sandbox):
    bid = fresh_sandbox.place_bid(price="$10.00")
    wait_for_status(fresh_sandbox, bid["fid"], "Allocated")
    fresh_sandbox.preempt(bid["fid"])
    wait_for_status(fresh_sandbox, bid["fid"], "Terminated")

    events = events_of(fresh_sandbox, bid["fid"])
    assert types_of(events) == ["Placed", "Allocated", "Preempted", "Terminated"]
    # The market, not a user, preempted and ended it.
    assert events[2]["user_id"] is None and events[3]["user_id"] is None


def test_history_records_price_memory_and_volume_changes_with_their_values(fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$50.00")  # stays Open: nothing else happens
    volume = fresh_sandbox.api(
        "POST",
        "/v2/volumes",
        json={
            "name": "hist",
            "project": fresh_sandbox.project,
            "disk_interface": "File",
            "region": REGION,
            "size_gb": 1,
        },
    ).json()
    bid = fresh_sandbox.place_bid(price="$10.00")
    path = f"/v2/spot/bids/{bid['fid']}"
    fresh_sandbox.api("PATCH", path, json={"limit_price": "$11.00"})
    fresh_sandbox.api("PATCH", path, json={"limit_price": "$11.00"})  # no change, no event
    fresh_sandbox.api("PATCH", path, json={"memory_gb": 64})
    fresh_sandbox.api("PATCH", path, json={"volumes": [volume["fid"]]})
    fresh_sandbox.api("PATCH", path, json={"volumes": []})

    events = events_of(fresh_sandbox, bid["fid"])
    assert types_of(events) == [
        "Placed",
        "Limit Price Changed",
        "Memory Adjusted",
        "Volumes Attached",
        "Volumes Removed",
    ]
    assert events[1]["limit_price"] == "$11.00"
    assert events[2]["memory_gb"] == 64
    assert events[3]["persistent_disk_change"] == {"attached": volume["fid"], "removed": None}
    assert events[4]["persistent_disk_change"] == {"attached": None, "removed": volume["fid"]}


def test_history_of_an_unknown_or_foreign_bid_is_404(fresh_sandbox):
    bid = fresh_sandbox.place_bid()
    stranger = fresh_sandbox.add_user("stranger@sandbox.invalid", role="member")
    headers = {"Authorization": f"Bearer {stranger['api_key']}"}
    foreign = fresh_sandbox.api("GET", f"/v2/spot/bids/{bid['fid']}/history", headers=headers)
    assert foreign.status_code == 404
    assert fresh_sandbox.api("GET", "/v2/spot/bids/bid_nothere/history").status_code == 404


def test_seeded_bids_have_a_placed_and_a_final_event(fresh_sandbox):
    fresh_sandbox.seed(1, status="Terminated")
    [bid] = fresh_sandbox.api("GET", "/v2/spot/bids", params={"name": "seed-0"}).json()["data"]
    assert types_of(events_of(fresh_sandbox, bid["fid"])) == ["Placed", "Terminated"]


def test_instance_status_follows_the_bid_and_gets_an_end_time_when_it_ends(fresh_sandbox):
    bid = fresh_sandbox.place_bid()
    [instance] = wait_for(lambda: fresh_sandbox.instances_of(bid["fid"]), timeout=10)
    path = f"/v2/instances/{instance['fid']}/status"
    running = fresh_sandbox.api("GET", path).json()
    assert running["fid"] == instance["fid"]
    assert running["name"] == instance["name"]
    assert running["bid"] == bid["fid"] and running["reservation"] is None
    assert running["status"] in ("STATUS_NEW", "STATUS_STARTING", "STATUS_RUNNING", "STATUS_ERROR")
    assert running["end_time"] is None

    fresh_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")
    ended = fresh_sandbox.api("GET", path).json()
    assert ended["status"] == "STATUS_TERMINATED"
    deactivated = fresh_sandbox.api("GET", f"/v2/spot/bids/{bid['fid']}").json()["deactivated_at"]
    end = datetime.fromisoformat(ended["end_time"])
    assert abs((end - datetime.fromisoformat(deactivated)).total_seconds()) < 1


def test_instance_status_of_an_unknown_instance_is_404(mithril_sandbox):
    response = mithril_sandbox.api("GET", "/v2/instances/inst_nothere/status")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_admin_sees_every_user_and_a_member_only_those_sharing_a_project(fresh_sandbox):
    me = fresh_sandbox.api("GET", "/v2/me").json()
    colleague = fresh_sandbox.add_user(
        "colleague@sandbox.invalid", role="member", projects=[fresh_sandbox.project]
    )
    loner = fresh_sandbox.add_user("loner@sandbox.invalid", role="member")

    as_admin = {t["fid"]: t for t in fresh_sandbox.api("GET", "/v2/me/teammates").json()}
    assert set(as_admin) == {me["fid"], colleague["user"], loner["user"]}
    assert as_admin[colleague["user"]]["email"] == "colleague@sandbox.invalid"
    assert as_admin[colleague["user"]]["user_name"] == "colleague"
    assert as_admin[colleague["user"]]["organization_role"] == "member"
    assert as_admin[colleague["user"]]["project_ids"] == [fresh_sandbox.project]
    assert as_admin[loner["user"]]["project_ids"] == [loner["project"]]
    assert as_admin[me["fid"]]["id"] == me["id"]
    assert len(as_admin[me["fid"]]["project_ids"]) == 2

    headers = {"Authorization": f"Bearer {colleague['api_key']}"}
    as_member = fresh_sandbox.api("GET", "/v2/me/teammates", headers=headers).json()
    # The member shares only the default project with the admin, so sees only that one.
    assert {t["fid"]: t["project_ids"] for t in as_member} == {
        me["fid"]: [fresh_sandbox.project],
        colleague["user"]: [fresh_sandbox.project],
    }


def test_new_user_joining_an_unknown_project_is_404(mithril_sandbox):
    response = mithril_sandbox.api(
        "POST",
        "/_sandbox/users",
        json={"email": "x@sandbox.invalid", "projects": ["proj_nothere"]},
    )
    assert response.status_code == 404


def test_teammates_need_the_api_key(mithril_sandbox):
    response = mithril_sandbox.api(
        "GET", "/v2/me/teammates", headers={"Authorization": "Bearer fkey_wrong"}
    )
    assert response.status_code == 401
