"""The sandbox's Mithril API over real HTTP: auth, validation, bids, paging, quotas, keys."""

from __future__ import annotations

import requests

from flow_notebook.sandbox.testing import A100, REGION, bid_body, wait_for


def test_request_without_key_is_401_with_detail(mithril_sandbox):
    response = requests.get(f"{mithril_sandbox.url}/v2/me", timeout=10)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid credentials"}


def test_request_with_wrong_key_is_401(mithril_sandbox):
    response = requests.get(
        f"{mithril_sandbox.url}/v2/projects",
        headers={"Authorization": "Bearer fkey_wrong"},
        timeout=10,
    )
    assert response.status_code == 401


def test_me_and_projects_describe_the_printed_account(mithril_sandbox):
    me = mithril_sandbox.api("GET", "/v2/me").json()
    projects = mithril_sandbox.api("GET", "/v2/projects").json()
    assert me["fid"].startswith("user_")
    assert mithril_sandbox.project in [p["fid"] for p in projects]
    assert len(projects) >= 2


def test_bad_volume_name_is_422_in_the_spec_shape(mithril_sandbox):
    body = {
        "project": mithril_sandbox.project,
        "name": "Bad_Name",
        "disk_interface": "Block",
        "region": REGION,
        "size_gb": 10,
    }
    response = mithril_sandbox.api("POST", "/v2/volumes", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert isinstance(error["msg"], str) and isinstance(error["type"], str)


def test_malformed_limit_price_is_422_on_that_field(mithril_sandbox):
    body = bid_body(mithril_sandbox.project, price="25.60")
    response = mithril_sandbox.api("POST", "/v2/spot/bids", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "limit_price"]


def test_unknown_bid_is_404(mithril_sandbox):
    assert mithril_sandbox.api("GET", "/v2/spot/bids/bid_nothere").status_code == 404


def test_bid_allocates_when_price_and_capacity_allow_and_stays_open_otherwise(fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$2.00")
    fresh_sandbox.set_capacity(A100, REGION, 2)
    cheap = fresh_sandbox.place_bid(price="$1.99")
    fits = fresh_sandbox.place_bid(price="$2.00", quantity=2)
    too_many = fresh_sandbox.place_bid(price="$9.00", quantity=1)
    assert cheap["status"] == "Open"
    assert fits["status"] == "Allocated" and len(fits["instances"]) == 2
    assert too_many["status"] == "Open"
    fresh_sandbox.api("DELETE", f"/v2/spot/bids/{fits['fid']}")
    wait_for(lambda: fresh_sandbox.bid_status(too_many["fid"]) == "Allocated")


def test_price_rise_preempts_an_allocated_bid_and_terminates_its_instances(fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$2.00")
    bid = fresh_sandbox.place_bid(price="$2.50")
    assert bid["status"] == "Allocated"
    fresh_sandbox.set_price(A100, REGION, "$3.00")
    assert fresh_sandbox.bid_status(bid["fid"]) == "Preempting"
    wait_for(lambda: fresh_sandbox.bid_status(bid["fid"]) == "Terminated", timeout=5)
    statuses = {i["status"] for i in fresh_sandbox.instances_of(bid["fid"])}
    assert statuses == {"STATUS_TERMINATED"}


def test_patch_pauses_and_resumes_a_bid(mithril_sandbox):
    bid = mithril_sandbox.place_bid(price="$50.00")
    path = f"/v2/spot/bids/{bid['fid']}"
    paused = mithril_sandbox.api("PATCH", path, json={"paused": True}).json()
    assert paused["status"] == "Paused"
    assert {i["status"] for i in mithril_sandbox.instances_of(bid["fid"])} == {"STATUS_PAUSED"}
    resumed = mithril_sandbox.api("PATCH", path, json={"paused": False}).json()
    assert resumed["status"] == "Allocated"
    assert resumed["instances"] == bid["instances"]
    assert mithril_sandbox.api("DELETE", path).status_code == 204


def test_patch_limit_price_below_spot_preempts(fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$2.00")
    bid = fresh_sandbox.place_bid(price="$5.00")
    changed = fresh_sandbox.api(
        "PATCH", f"/v2/spot/bids/{bid['fid']}", json={"limit_price": "$1.00"}
    ).json()
    assert changed["limit_price"] == "$1.00"
    assert changed["status"] in ("Preempting", "Terminated")


def test_bids_page_with_limit_and_next_cursor_without_repeats(fresh_sandbox):
    assert fresh_sandbox.seed(250) == 250
    seen, cursor, pages = [], None, 0
    while True:
        params = {"project": fresh_sandbox.project, "limit": 100}
        if cursor:
            params["next_cursor"] = cursor
        page = fresh_sandbox.api("GET", "/v2/spot/bids", params=params).json()
        seen += [b["fid"] for b in page["data"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 250


def test_instances_page_and_filter_by_status(fresh_sandbox):
    fresh_sandbox.seed(120)
    params = {"project": fresh_sandbox.project, "status_in": "STATUS_TERMINATED", "limit": 100}
    first = fresh_sandbox.api("GET", "/v2/instances", params=params).json()
    second = fresh_sandbox.api(
        "GET", "/v2/instances", params={**params, "next_cursor": first["next_cursor"]}
    ).json()
    assert len(first["data"]) == 100 and len(second["data"]) == 20
    assert second["next_cursor"] is None


def test_instances_without_project_is_422(mithril_sandbox):
    response = mithril_sandbox.api("GET", "/v2/instances")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "project"]


def test_bid_over_the_instance_quota_is_refused_and_quota_shows_usage(mithril_sandbox):
    small = next(
        p["fid"]
        for p in mithril_sandbox.api("GET", "/v2/projects").json()
        if p["fid"] != mithril_sandbox.project
    )
    first = mithril_sandbox.api(
        "POST", "/v2/spot/bids", json=bid_body(small, price="$0.01", quantity=2)
    )
    assert first.status_code == 201
    refused = mithril_sandbox.api(
        "POST", "/v2/spot/bids", json=bid_body(small, price="$0.01", quantity=1)
    )
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("Quota exceeded")
    quotas = mithril_sandbox.api("GET", "/v2/quotas", params={"project": small}).json()
    a100 = next(q for q in quotas if q["instance_type"] == A100)
    assert (a100["used_quantity"], a100["total_quantity"]) == (2, 2)
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{first.json()['fid']}")


def test_volume_over_the_storage_quota_is_refused(mithril_sandbox):
    small = next(
        p["fid"]
        for p in mithril_sandbox.api("GET", "/v2/projects").json()
        if p["fid"] != mithril_sandbox.project
    )
    body = {
        "project": small,
        "name": "big",
        "disk_interface": "File",
        "region": REGION,
        "size_gb": 101,
    }
    response = mithril_sandbox.api("POST", "/v2/volumes", json=body)
    assert response.status_code == 400
    assert "Quota exceeded" in response.json()["detail"]


def test_ssh_key_without_public_key_generates_a_private_key(mithril_sandbox):
    response = mithril_sandbox.api(
        "POST", "/v2/ssh-keys", json={"project": mithril_sandbox.project, "name": "gen"}
    )
    assert response.status_code == 201
    key = response.json()
    assert "PRIVATE KEY" in key["private_key"]
    assert key["public_key"].startswith("ssh-")
    listed = mithril_sandbox.api(
        "GET", "/v2/ssh-keys", params={"project": mithril_sandbox.project}
    ).json()
    assert key["fid"] in [k["fid"] for k in listed]
    assert all("private_key" not in k for k in listed)
    assert mithril_sandbox.api("DELETE", f"/v2/ssh-keys/{key['fid']}").status_code == 204


def test_volume_lifecycle_create_rename_list_delete(mithril_sandbox):
    body = {
        "project": mithril_sandbox.project,
        "name": "data",
        "disk_interface": "Block",
        "region": REGION,
        "size_gb": 10,
    }
    volume = mithril_sandbox.api("POST", "/v2/volumes", json=body).json()
    renamed = mithril_sandbox.api(
        "PATCH", f"/v2/volumes/{volume['fid']}", json={"name": "data-2"}
    ).json()
    assert renamed["name"] == "data-2" and renamed["deleted_at"] is None
    assert mithril_sandbox.api("DELETE", f"/v2/volumes/{volume['fid']}").status_code == 204
    listed = mithril_sandbox.api(
        "GET", "/v2/volumes", params={"project": mithril_sandbox.project}
    ).json()
    assert volume["fid"] not in [v["fid"] for v in listed]


def test_current_price_is_in_cents_and_follows_the_market(fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$3.21")
    prices = fresh_sandbox.api(
        "GET", "/v2/pricing/current", params={"instance_type": A100, "region": REGION}
    ).json()
    assert prices["spot_price_cents"] == 321
    history = fresh_sandbox.api(
        "GET", "/v2/pricing/history", params={"instance_types": A100, "region": REGION}
    ).json()
    assert history["series"][0]["spot_prices"][-1] == "$3.21"


def test_availability_shows_free_capacity_and_dollar_prices(fresh_sandbox):
    fresh_sandbox.set_capacity(A100, REGION, 5)
    fresh_sandbox.place_bid(price="$99.00", quantity=2)
    auctions = fresh_sandbox.api("GET", "/v2/spot/availability").json()
    auction = next(a for a in auctions if (a["instance_type"], a["region"]) == (A100, REGION))
    assert auction["capacity"] == 3
    assert auction["last_instance_price"].startswith("$")
    assert auction["lowest_allocated_price"] == "$99.00"


def test_deleting_a_volume_an_active_bid_uses_is_409(mithril_sandbox):
    body = {
        "project": mithril_sandbox.project,
        "name": "busy",
        "disk_interface": "File",
        "region": REGION,
        "size_gb": 1,
    }
    volume = mithril_sandbox.api("POST", "/v2/volumes", json=body).json()
    bid = mithril_sandbox.place_bid(price="$0.01", volumes=[volume["fid"]])  # stays Open
    refused = mithril_sandbox.api("DELETE", f"/v2/volumes/{volume['fid']}")
    assert refused.status_code == 409
    assert "in use" in refused.json()["detail"]
    mithril_sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")
    assert mithril_sandbox.api("DELETE", f"/v2/volumes/{volume['fid']}").status_code == 204
