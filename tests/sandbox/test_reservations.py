"""``/v2/reservation*`` over real HTTP, every answer checked against the vendored spec."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flow_notebook.sandbox.catalog import parse_price
from flow_notebook.sandbox.testing import REGION, check_response, ssh_run, wait_for

RESERVATION = "/v2/reservation/{reservation_fid}"


def _at(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def _instance_type(sandbox) -> str:
    return sandbox.api("GET", "/v2/instance-types").json()[0]["fid"]


def _body(sandbox, *, start: float = 0, hours: float = 1, quantity: int = 1, **spec):
    return {
        "project": sandbox.project,
        "instance_type": _instance_type(sandbox),
        "region": REGION,
        "start_time": _at(start),
        "end_time": _at(start + hours * 3600),
        "instance_quantity": quantity,
        "name": "train",
        "launch_specification": {"volumes": [], "ssh_keys": [], **spec},
    }


def _create(sandbox, **kwargs):
    response = sandbox.api("POST", "/v2/reservation", json=_body(sandbox, **kwargs))
    assert response.status_code == 201, response.text
    return check_response(response, "POST", "/v2/reservation")


def _listed(sandbox, fid: str) -> dict:
    response = sandbox.api("GET", "/v2/reservation", params={"project": sandbox.project})
    found = [r for r in check_response(response, "GET", "/v2/reservation")["data"]]
    return next(r for r in found if r["fid"] == fid)


def _instances(sandbox, reservation_fid: str) -> list[dict]:
    params = {"project": sandbox.project, "reservation_fid_in": reservation_fid}
    response = sandbox.api("GET", "/v2/instances", params=params)
    return check_response(response, "GET", "/v2/instances")["data"]


def _get(sandbox, path: str, route: str, **params):
    response = sandbox.api("GET", path, params=params)
    assert response.status_code == 200, response.text
    return check_response(response, "GET", route)


def _hours(duration: str) -> float:
    hours, rest = duration.removeprefix("PT").split("H")
    minutes, seconds = rest.removesuffix("S").split("M")
    return int(hours) + int(minutes) / 60 + int(seconds) / 3600


def test_quote_then_reservation_costs_price_times_instances_times_hours(mithril_sandbox):
    sandbox = mithril_sandbox
    body = _body(sandbox, start=3600, hours=3, quantity=2)
    quote = _get(
        sandbox,
        "/v2/reservation/quote",
        "/v2/reservation/quote",
        project=sandbox.project,
        instance_type=body["instance_type"],
        region=REGION,
        start_time=body["start_time"],
        end_time=body["end_time"],
        quantity=2,
    )
    [offer] = quote["offers"]
    unit = parse_price(offer["unit_price"])
    assert unit > 0 and parse_price(offer["total_price"]) == unit * 2 * 3

    response = sandbox.api("POST", "/v2/reservation", json=body)
    created = check_response(response, "POST", "/v2/reservation")
    assert response.status_code == 201
    assert created["status"] == "Pending" and created["instances"] == []
    assert created["unit_price"] == offer["unit_price"]
    assert created["total_price"] == offer["total_price"]

    fid = created["fid"]
    usage = _get(sandbox, f"/v2/reservation/{fid}/usage", RESERVATION + "/usage")
    assert usage["summary"]["committed_cost_cents"] == unit * 2 * 3
    assert usage["reservation"]["status"] == "Open"
    assert [(g["quantity"], g["unit_price"]) for g in usage["grants"]] == [(2, unit)]
    assert _hours(usage["summary"]["reserved_instance_hours"]) == 0
    history = _get(sandbox, f"/v2/reservation/{fid}/history", RESERVATION + "/history")
    assert [e["event_type"] for e in history["events"]] == ["Placed", "Terms Set"]
    assert history["events"][1]["unit_price_cents"] == unit


def test_reservation_has_no_instances_before_its_window_then_boots_them(
    mithril_sandbox, require_ssh, tmp_path
):
    sandbox = mithril_sandbox
    key_fid, key_path = sandbox.new_ssh_key(tmp_path)
    script = "#!/bin/bash\necho reserved on $MITHRIL_RESERVATION_FID as $(whoami)\n"
    created = _create(sandbox, start=4, ssh_keys=[key_fid], startup_script=script)
    fid = created["fid"]
    assert _listed(sandbox, fid)["status"] == "Pending"
    assert _instances(sandbox, fid) == []

    wait_for(lambda: _listed(sandbox, fid)["status"] == "Active", timeout=20)
    [instance] = wait_for(
        lambda: [i for i in _instances(sandbox, fid) if i["status"] == "STATUS_RUNNING"],
        timeout=30,
    )
    assert instance["reservation"] == fid and instance["bid"] is None

    def startup_log() -> str:
        command = "cat /var/log/foundry/startup_script.log"
        return ssh_run(instance["ssh_destination"], key_path, command).stdout

    assert wait_for(startup_log, timeout=20).strip() == f"reserved on {fid} as root"
    spot = {"project": sandbox.project, "order_type_in": "Bid"}
    listed_spot = sandbox.api("GET", "/v2/instances", params=spot).json()["data"]
    assert instance["fid"] not in [i["fid"] for i in listed_spot]
    status = _get(
        sandbox,
        f"/v2/instances/{instance['fid']}/status",
        "/v2/instances/{instance_fid}/status",
    )
    assert status["reservation"] == fid

    ended = sandbox.api(
        "POST",
        f"/v2/reservation/{fid}/terminate-instances",
        json={"instances": [instance["fid"]], "reduce_capacity": True},
    )
    assert ended.status_code == 200
    assert ended.json() == {"terminated_instances": [instance["fid"]]}
    assert _listed(sandbox, fid)["status"] == "Canceled"
    assert _instances(sandbox, fid)[0]["status"] == "STATUS_TERMINATED"


def test_window_end_ends_the_reservation_and_its_instances(fresh_sandbox):
    sandbox = fresh_sandbox
    created = _create(sandbox, hours=4 / 3600)
    fid = created["fid"]
    wait_for(lambda: _instances(sandbox, fid), timeout=10)
    wait_for(lambda: _listed(sandbox, fid)["status"] == "Ended", timeout=20)
    reservation = _listed(sandbox, fid)
    assert reservation["deactivated_at"] is not None
    assert [i["status"] for i in _instances(sandbox, fid)] == ["STATUS_TERMINATED"]
    usage = _get(sandbox, f"/v2/reservation/{fid}/usage", RESERVATION + "/usage")
    assert usage["reservation"]["status"] == "Terminated"
    assert 0 < _hours(usage["summary"]["reserved_instance_hours"]) <= 5 / 3600
    kinds = [e["event_type"] for e in usage["reservation_events"]]
    assert kinds == ["Started"]
    statuses = [e["instance_status"] for e in usage["pricing_events"]]
    assert statuses[-1] == "STATUS_TERMINATED"


def test_extend_moves_the_end_and_buys_the_added_hours(mithril_sandbox):
    sandbox = mithril_sandbox
    created = _create(sandbox, start=7200, hours=2, quantity=1)
    fid = created["fid"]
    unit = parse_price(created["unit_price"])
    route = RESERVATION + "/extension-availability"
    room = _get(sandbox, f"/v2/reservation/{fid}/extension-availability", route)
    assert room["available"] is True
    assert datetime.fromisoformat(room["latest_extension_time"]) > datetime.fromisoformat(
        created["end_time"]
    )

    new_end = (datetime.fromisoformat(created["end_time"]) + timedelta(hours=1)).isoformat()
    response = sandbox.api("POST", f"/v2/reservation/{fid}/extend", json={"end_time": new_end})
    assert response.status_code == 200, response.text
    extended = check_response(response, "POST", RESERVATION + "/extend")
    assert datetime.fromisoformat(extended["end_time"]) == datetime.fromisoformat(new_end)
    assert parse_price(extended["total_price"]) == parse_price(created["total_price"]) + unit
    usage = _get(sandbox, f"/v2/reservation/{fid}/usage", RESERVATION + "/usage")
    assert len(usage["grants"]) == 2
    history = _get(sandbox, f"/v2/reservation/{fid}/history", RESERVATION + "/history")
    assert history["events"][-1]["event_type"] == "Terms Changed"

    shorter = sandbox.api("POST", f"/v2/reservation/{fid}/extend", json={"end_time": _at(60)})
    assert shorter.status_code == 422
    check_response(shorter, "POST", RESERVATION + "/extend")


def test_capacity_is_held_for_the_window_and_refused_beyond_it(fresh_sandbox):
    sandbox = fresh_sandbox
    itype = _instance_type(sandbox)
    sandbox.set_capacity(itype, REGION, 3)
    body = _body(sandbox, start=3600, hours=2, quantity=2)
    assert sandbox.api("POST", "/v2/reservation", json=body).status_code == 201
    window = {
        "project": sandbox.project,
        "instance_type": itype,
        "region": REGION,
        "start_time": body["start_time"],
        "end_time": body["end_time"],
        "quantity": 2,
        "mode": "check",
    }
    route = "/v2/reservation/availability"
    assert _get(sandbox, route, route, **window) == []
    assert _get(sandbox, route, route, **{**window, "quantity": 1}) != []
    slots = _get(sandbox, route, route, **{**window, "mode": "slots"})
    assert [s["quantity"] for s in slots] == [1]

    too_many = sandbox.api("POST", "/v2/reservation", json={**body, "instance_quantity": 2})
    assert too_many.status_code == 400
    assert "capacity" in too_many.json()["detail"]
    later = _body(sandbox, start=3 * 3600, hours=1, quantity=3)
    assert sandbox.api("POST", "/v2/reservation", json=later).status_code == 201


def test_pause_stops_the_instances_and_resume_boots_them(fresh_sandbox):
    sandbox = fresh_sandbox
    fid = _create(sandbox)["fid"]
    wait_for(lambda: [i for i in _instances(sandbox, fid) if i["status"] == "STATUS_RUNNING"])
    response = sandbox.api("PATCH", f"/v2/reservation/{fid}", json={"paused": True})
    assert check_response(response, "PATCH", RESERVATION)["status"] == "Paused"
    wait_for(lambda: _instances(sandbox, fid)[0]["status"] == "STATUS_PAUSED")
    response = sandbox.api("PATCH", f"/v2/reservation/{fid}", json={"paused": False})
    assert check_response(response, "PATCH", RESERVATION)["status"] == "Active"
    wait_for(lambda: _instances(sandbox, fid)[0]["status"] == "STATUS_RUNNING")
    events = _get(sandbox, f"/v2/reservation/{fid}/history", RESERVATION + "/history")
    assert [e["event_type"] for e in events["events"]][-2:] == ["Paused", "Resumed"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "route"),
    [
        ("GET", "/usage", None, RESERVATION + "/usage"),
        ("GET", "/history", None, RESERVATION + "/history"),
        ("GET", "/extension-availability", None, RESERVATION + "/extension-availability"),
        ("POST", "/extend", {"end_time": "2099-01-01T00:00:00Z"}, RESERVATION + "/extend"),
        ("PATCH", "", {"paused": True}, RESERVATION),
        (
            "POST",
            "/terminate-instances",
            {"instances": ["inst_x"], "reduce_capacity": True},
            RESERVATION + "/terminate-instances",
        ),
    ],
)
def test_unknown_reservation_is_404(mithril_sandbox, method, suffix, body, route):
    response = mithril_sandbox.api(method, f"/v2/reservation/res_unknown{suffix}", json=body)
    assert response.status_code == 404
    assert "res_unknown" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_time": _at(-3600), "end_time": _at(3600)}, "start_time"),
        ({"start_time": _at(3600), "end_time": _at(1800)}, "end_time"),
        ({"instance_quantity": 0}, "instance_quantity"),
        ({"instance_type": "it_nonexistent"}, "instance_type"),
        ({"region": "mars-north1-a"}, "region"),
        ({"start_time": "tomorrow"}, "start_time"),
        ({"name": None}, "name"),
        ({"launch_specification": {"volumes": [], "ssh_keys": ["sshkey_unknown"]}}, "ssh_keys"),
    ],
)
def test_bad_reservation_is_422_naming_the_field(mithril_sandbox, change, field):
    body = {**_body(mithril_sandbox), **change}
    response = mithril_sandbox.api("POST", "/v2/reservation", json=body)
    assert response.status_code == 422, response.text
    detail = check_response(response, "POST", "/v2/reservation")["detail"]
    assert field in detail[0]["loc"]


def test_terminate_instances_needs_reduce_capacity_and_own_instances(mithril_sandbox):
    fid = _create(mithril_sandbox, start=3600)["fid"]
    path = f"/v2/reservation/{fid}/terminate-instances"
    route = RESERVATION + "/terminate-instances"
    no_flag = mithril_sandbox.api("POST", path, json={"instances": ["inst_a"]})
    assert no_flag.status_code == 422
    check_response(no_flag, "POST", route)
    foreign = mithril_sandbox.api(
        "POST", path, json={"instances": ["inst_a"], "reduce_capacity": True}
    )
    assert foreign.status_code == 404


def test_list_filters_and_needs_a_project(mithril_sandbox):
    sandbox = mithril_sandbox
    fid = _create(sandbox, start=3600)["fid"]
    pending = _get(
        sandbox, "/v2/reservation", "/v2/reservation", project=sandbox.project, status="Pending"
    )
    assert fid in [r["fid"] for r in pending["data"]]
    ended = _get(
        sandbox, "/v2/reservation", "/v2/reservation", project=sandbox.project, status="Ended"
    )
    assert fid not in [r["fid"] for r in ended["data"]]
    missing = sandbox.api("GET", "/v2/reservation")
    assert missing.status_code == 422
    check_response(missing, "GET", "/v2/reservation")
    types = _get(sandbox, "/v2/reservation/instance-types", "/v2/reservation/instance-types")
    assert _instance_type(sandbox) in [t["fid"] for t in types]


def test_reservation_holds_its_volume_and_key_until_it_ends(mithril_sandbox, tmp_path):
    sandbox = mithril_sandbox
    volume = sandbox.api(
        "POST",
        "/v2/volumes",
        json={
            "project": sandbox.project,
            "name": "resdata",
            "region": REGION,
            "size_gb": 1,
            "disk_interface": "File",
        },
    )
    assert volume.status_code == 201, volume.text
    volume_fid = volume.json()["fid"]
    key_fid, _ = sandbox.new_ssh_key(tmp_path, "held")
    fid = _create(sandbox, volumes=[volume_fid], ssh_keys=[key_fid])["fid"]
    [instance] = wait_for(lambda: _instances(sandbox, fid))

    def listed_volume() -> dict:
        found = sandbox.api("GET", "/v2/volumes", params={"project": sandbox.project}).json()
        return next(v for v in found if v["fid"] == volume_fid)

    assert listed_volume()["reservations"] == [fid]
    assert listed_volume()["attachments"] == {instance["fid"]: f"/mnt/volumes/{volume_fid}"}
    assert sandbox.api("DELETE", f"/v2/volumes/{volume_fid}").status_code == 409
    assert sandbox.api("DELETE", f"/v2/ssh-keys/{key_fid}").status_code == 409

    body = {"instances": [instance["fid"]], "reduce_capacity": True}
    sandbox.api("POST", f"/v2/reservation/{fid}/terminate-instances", json=body)
    assert listed_volume()["reservations"] == [] and listed_volume()["attachments"] == {}
    assert sandbox.api("DELETE", f"/v2/volumes/{volume_fid}").status_code == 204
    assert sandbox.api("DELETE", f"/v2/ssh-keys/{key_fid}").status_code == 204


def test_starting_reservation_takes_capacity_from_spot_and_preempts_the_cheapest_bid(
    fresh_sandbox,
):
    sandbox = fresh_sandbox
    itype = _instance_type(sandbox)
    sandbox.set_capacity(itype, REGION, 2)
    cheap = sandbox.place_bid(price="$50.00", instance_type=itype)
    dear = sandbox.place_bid(price="$90.00", instance_type=itype)
    wait_for(lambda: {sandbox.bid_status(b["fid"]) for b in (cheap, dear)} == {"Allocated"})

    def spot_free() -> int:
        auctions = sandbox.api("GET", "/v2/spot/availability").json()
        return next(
            a["capacity"] for a in auctions if (a["instance_type"], a["region"]) == (itype, REGION)
        )

    assert spot_free() == 0
    _create(sandbox, start=2)  # Reservations may take capacity that spot bids hold.
    assert sandbox.bid_status(cheap["fid"]) == "Allocated"  # Not before its window.
    wait_for(lambda: sandbox.bid_status(cheap["fid"]) == "Terminated", timeout=20)
    assert sandbox.bid_status(dear["fid"]) == "Allocated"
    history = sandbox.api("GET", f"/v2/spot/bids/{cheap['fid']}/history").json()
    assert "Preempted" in [e["event_type"] for e in history["events"]]
    assert spot_free() == 0
    current = sandbox.api("GET", "/v2/pricing/current", params={"instance_type": itype})
    assert current.json()["total_capacity"] >= 2
