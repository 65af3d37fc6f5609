"""ApiClient's teammates, bid history and instance status over real HTTP against the sandbox.

Every answer is checked against the sandbox's own state: its raw JSON, or what the
test just did to the bid or added through ``/_sandbox/``.
"""

from __future__ import annotations

import uuid

import pytest

from flow_notebook.core.errors import AuthenticationError, NotFoundError
from flow_notebook.providers.mithril.api import dto
from flow_notebook.sandbox.testing import A100, REGION, wait_for

pytestmark = pytest.mark.sandbox


def raw(handle, path, **params):
    response = handle.api("GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def place(client, project, *, price="$10.00"):
    request = dto.CreateBidRequest(
        project=project,
        region=REGION,
        instance_type=A100,
        limit_price=price,
        instance_quantity=1,
        name=f"hist-{uuid.uuid4().hex[:10]}",
        launch_specification=dto.LaunchSpecificationModel(volumes=[], ssh_keys=[]),
    )
    return client.create_bid(request)


def wait_bid_status(client, fid, wanted):
    wait_for(lambda: client.get_bid(fid).status == wanted, timeout=15)


def kinds(history):
    return [e.event_type for e in history.events]


# --- bid history -------------------------------------------------------------------


def test_paused_resumed_cancelled_bid_shows_those_events_in_order(fresh_client, fresh_sandbox):
    me = fresh_client.get_me().fid
    bid = place(fresh_client, fresh_sandbox.project, price="$12.50")
    wait_bid_status(fresh_client, bid.fid, "Allocated")
    fresh_client.update_bid(bid.fid, dto.UpdateBidRequest(paused=True))
    fresh_client.update_bid(bid.fid, dto.UpdateBidRequest(paused=False))
    wait_bid_status(fresh_client, bid.fid, "Allocated")
    fresh_client.cancel_bid(bid.fid)

    history = fresh_client.get_bid_history(bid.fid)

    assert history.bid_fid == bid.fid
    assert kinds(history) == ["Placed", "Allocated", "Paused", "Resumed", "Allocated", "Terminated"]
    placed, _, paused, resumed, _, terminated = history.events
    assert placed.limit_price == bid.limit_price == "$12.50"
    assert [placed.user_id, paused.user_id, resumed.user_id, terminated.user_id] == [me] * 4
    stamps = [e.timestamp for e in history.events]
    assert stamps == sorted(stamps)
    assert stamps[0] >= bid.created_at
    assert terminated.timestamp == fresh_client.get_bid(bid.fid).deactivated_at
    assert history == dto.BidHistoryResponse.model_validate(
        raw(fresh_sandbox, f"/v2/spot/bids/{bid.fid}/history")
    )


def test_preempted_bid_history_ends_preempted_then_terminated(fresh_client, fresh_sandbox):
    bid = place(fresh_client, fresh_sandbox.project)
    wait_bid_status(fresh_client, bid.fid, "Allocated")
    fresh_sandbox.set_price(A100, REGION, "$20.00")  # above the bid's $10.00 limit
    wait_bid_status(fresh_client, bid.fid, "Terminated")

    history = fresh_client.get_bid_history(bid.fid)

    assert kinds(history) == ["Placed", "Allocated", "Preempted", "Terminated"]
    assert [e.user_id for e in history.events[2:]] == [None, None]


def test_limit_price_change_is_an_event_with_the_new_price(fresh_client, fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$30.00")  # the bid stays Open throughout
    bid = place(fresh_client, fresh_sandbox.project)
    fresh_client.update_bid(bid.fid, dto.UpdateBidRequest(limit_price="$11.00"))
    fresh_client.update_bid(bid.fid, dto.UpdateBidRequest(memory_gb=128))

    history = fresh_client.get_bid_history(bid.fid)

    assert kinds(history) == ["Placed", "Limit Price Changed", "Memory Adjusted"]
    assert history.events[1].limit_price == "$11.00" == fresh_client.get_bid(bid.fid).limit_price
    assert history.events[2].memory_gb == 128
    assert history.events[2].persistent_disk_change is None


def test_history_of_an_unknown_bid_is_not_found(client):
    with pytest.raises(NotFoundError, match="not found"):
        client.get_bid_history("bid_doesnotexist")


# --- instance status ---------------------------------------------------------------


def test_instance_status_matches_the_listing_then_ends_with_an_end_time(
    fresh_client, fresh_sandbox
):
    project = fresh_sandbox.project
    bid = place(fresh_client, project)
    wait_bid_status(fresh_client, bid.fid, "Allocated")
    [listed] = list(fresh_client.iter_instances(project, bid_fid_in=[bid.fid]))

    status = fresh_client.get_instance_status(listed.fid)

    assert (status.fid, status.name, status.bid) == (listed.fid, listed.name, bid.fid)
    assert status.reservation is None and status.end_time is None
    raw_status = raw(fresh_sandbox, f"/v2/instances/{listed.fid}/status")["status"]
    assert status.status == raw_status

    fresh_client.update_bid(bid.fid, dto.UpdateBidRequest(paused=True))
    paused = fresh_client.get_instance_status(listed.fid)
    assert (paused.status, paused.end_time) == ("STATUS_PAUSED", None)

    fresh_client.cancel_bid(bid.fid)
    ended = fresh_client.get_instance_status(listed.fid)
    assert ended.status == "STATUS_TERMINATED"
    deactivated = fresh_client.get_bid(bid.fid).deactivated_at
    assert abs((ended.end_time - deactivated).total_seconds()) < 1


def test_status_of_an_unknown_instance_is_not_found(client):
    with pytest.raises(NotFoundError, match="not found"):
        client.get_instance_status("inst_doesnotexist")


# --- teammates ---------------------------------------------------------------------


def test_admin_sees_every_sandbox_user_with_their_projects(fresh_client, fresh_sandbox):
    colleague = fresh_sandbox.add_user(
        "colleague@sandbox.invalid", role="member", projects=[fresh_sandbox.project]
    )
    loner = fresh_sandbox.add_user("loner@sandbox.invalid")
    me = fresh_client.get_me()
    own_projects = {p.fid for p in fresh_client.list_projects()}

    teammates = {t.fid: t for t in fresh_client.list_teammates()}

    assert set(teammates) == {me.fid, colleague["user"], loner["user"]}
    assert (teammates[me.fid].id, teammates[me.fid].email) == (me.id, me.email)
    assert set(teammates[me.fid].project_ids) == own_projects
    assert teammates[colleague["user"]].project_ids == [fresh_sandbox.project]
    assert teammates[colleague["user"]].organization_role == "member"
    assert teammates[colleague["user"]].user_name == "colleague"
    assert teammates[loner["user"]].project_ids == [loner["project"]]
    assert all(t.deactivated_at is None for t in teammates.values())


def test_member_sees_only_users_sharing_a_project(fresh_sandbox, client_for):
    admin = client_for(fresh_sandbox).get_me()
    colleague = fresh_sandbox.add_user(
        "colleague@sandbox.invalid", role="member", projects=[fresh_sandbox.project]
    )
    fresh_sandbox.add_user("loner@sandbox.invalid")
    member = client_for(fresh_sandbox, api_key=colleague["api_key"])

    teammates = member.list_teammates()

    assert member.get_me().fid == colleague["user"]
    assert {t.fid: t.project_ids for t in teammates} == {
        admin.fid: [fresh_sandbox.project],
        colleague["user"]: [fresh_sandbox.project],
    }


def test_teammates_with_a_wrong_key_is_an_authentication_error(fresh_sandbox, client_for):
    with pytest.raises(AuthenticationError):
        client_for(fresh_sandbox, api_key="fkey_wrong").list_teammates()
