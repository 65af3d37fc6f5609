"""``/v2/api-keys`` over real HTTP: keys authenticate like their user's, expire and revoke."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import requests

from flow_notebook.sandbox.testing import wait_for


def _in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def _as(sandbox, secret: str, method: str, path: str, **kwargs):
    headers = {"Authorization": f"Bearer {secret}"}
    return requests.request(method, sandbox.url + path, headers=headers, timeout=10, **kwargs)


def test_created_key_authenticates_for_the_users_projects_and_lists_without_secret(
    mithril_sandbox,
):
    created = mithril_sandbox.api(
        "POST", "/v2/api-keys", json={"name": "task-a", "expires_at": _in(600)}
    )
    assert created.status_code == 201
    key = created.json()
    assert key["fid"].startswith("apikey_") and key["secret"].startswith("fkey_")
    assert key["snippet"].endswith("...") and key["secret"].startswith(key["snippet"][:-3])
    assert key["deactivated_at"] is None

    bids = _as(
        mithril_sandbox,
        key["secret"],
        "GET",
        "/v2/spot/bids",
        params={"project": mithril_sandbox.project},
    )
    assert bids.status_code == 200
    listed = {k["fid"]: k for k in mithril_sandbox.api("GET", "/v2/api-keys").json()}
    assert listed[key["fid"]]["name"] == "task-a"
    assert "secret" not in listed[key["fid"]]
    assert key["secret"] not in mithril_sandbox.api("GET", "/v2/api-keys").text


def test_revoked_key_is_refused_at_once_and_listed_as_deactivated(mithril_sandbox):
    key = mithril_sandbox.api(
        "POST", "/v2/api-keys", json={"name": "task-b", "expires_at": _in(600)}
    ).json()
    assert _as(mithril_sandbox, key["secret"], "GET", "/v2/me").status_code == 200

    # A key may revoke itself (the on-instance watcher does so last).
    revoked = _as(mithril_sandbox, key["secret"], "DELETE", f"/v2/api-keys/{key['fid']}")
    assert revoked.status_code == 204
    assert _as(mithril_sandbox, key["secret"], "GET", "/v2/me").status_code == 401
    listed = {k["fid"]: k for k in mithril_sandbox.api("GET", "/v2/api-keys").json()}
    assert listed[key["fid"]]["deactivated_at"] is not None
    again = mithril_sandbox.api("DELETE", f"/v2/api-keys/{key['fid']}")
    assert again.status_code == 204


def test_key_stops_authenticating_when_it_expires(mithril_sandbox):
    key = mithril_sandbox.api(
        "POST", "/v2/api-keys", json={"name": "short", "expires_at": _in(1.5)}
    ).json()
    assert _as(mithril_sandbox, key["secret"], "GET", "/v2/me").status_code == 200
    wait_for(
        lambda: _as(mithril_sandbox, key["secret"], "GET", "/v2/me").status_code == 401,
        timeout=10,
        interval=0.2,
    )


def test_bad_requests_are_refused(mithril_sandbox):
    past = mithril_sandbox.api("POST", "/v2/api-keys", json={"name": "old", "expires_at": _in(-60)})
    assert past.status_code == 400
    assert "expires_at" in past.json()["detail"]
    missing = mithril_sandbox.api("POST", "/v2/api-keys", json={"name": "no-expiry"})
    assert missing.status_code == 422
    unknown = mithril_sandbox.api("DELETE", "/v2/api-keys/apikey_000000000000")
    assert unknown.status_code == 404
    anonymous = requests.get(f"{mithril_sandbox.url}/v2/api-keys", timeout=10)
    assert anonymous.status_code == 401


def test_other_users_keys_are_invisible_and_not_revocable(mithril_sandbox):
    other = mithril_sandbox.add_user(f"other{time.monotonic_ns()}@sandbox.invalid")
    key = mithril_sandbox.api(
        "POST", "/v2/api-keys", json={"name": "mine", "expires_at": _in(600)}
    ).json()
    theirs = _as(mithril_sandbox, other["api_key"], "GET", "/v2/api-keys").json()
    assert key["fid"] not in [k["fid"] for k in theirs]
    refused = _as(mithril_sandbox, other["api_key"], "DELETE", f"/v2/api-keys/{key['fid']}")
    assert refused.status_code == 404
    assert _as(mithril_sandbox, key["secret"], "GET", "/v2/me").status_code == 200
