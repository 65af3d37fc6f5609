"""``/v2/lifecycle-scripts*`` over real HTTP, and a stored script run on a bid's instance."""

from __future__ import annotations

import requests

from flow_notebook.sandbox.testing import check_response, ssh_run, wait_for

SCRIPTS = "/v2/lifecycle-scripts"
SCRIPT = "/v2/lifecycle-scripts/{ls_fid}"


def _create(sandbox, content: str, **extra) -> dict:
    body = {"project": sandbox.project, "name": "setup", "content": content, **extra}
    response = sandbox.api("POST", SCRIPTS, json=body)
    assert response.status_code == 201, response.text
    return check_response(response, "POST", SCRIPTS)


def test_script_is_stored_listed_changed_and_deleted(mithril_sandbox):
    sandbox = mithril_sandbox
    script = _create(sandbox, "#!/bin/bash\necho hi\n", description="greets")
    fid = script["fid"]
    assert script["scope"] == "PROJECT" and script["description"] == "greets"

    content = sandbox.api("GET", f"/v2/lifecycle-scripts/{fid}/content")
    assert check_response(content, "GET", SCRIPT + "/content") == "#!/bin/bash\necho hi\n"
    assert requests.get(script["content_url"], timeout=10).text == "#!/bin/bash\necho hi\n"

    listed = sandbox.api("GET", SCRIPTS, params={"project": sandbox.project})
    assert fid in [s["fid"] for s in check_response(listed, "GET", SCRIPTS)["data"]]

    changed = sandbox.api(
        "PATCH", f"/v2/lifecycle-scripts/{fid}", json={"name": "renamed", "scope": "ORGANIZATION"}
    )
    body = check_response(changed, "PATCH", SCRIPT)
    assert (body["name"], body["scope"], body["description"]) == (
        "renamed",
        "ORGANIZATION",
        "greets",
    )
    assert body["last_modified_at"] >= body["created_at"]

    assert sandbox.api("DELETE", f"/v2/lifecycle-scripts/{fid}").status_code == 204
    assert sandbox.api("GET", f"/v2/lifecycle-scripts/{fid}/content").status_code == 404
    assert requests.get(script["content_url"], timeout=10).status_code == 404
    assert sandbox.api("DELETE", f"/v2/lifecycle-scripts/{fid}").status_code == 404


def test_bad_scripts_are_422_and_unknown_ones_404(mithril_sandbox):
    sandbox = mithril_sandbox
    for change, field in (
        ({"content": ""}, "content"),
        ({"name": ""}, "name"),
        ({"scope": "PLATFORM"}, "scope"),
        ({"content": None}, "content"),
    ):
        body = {"project": sandbox.project, "name": "x", "content": "echo", **change}
        response = sandbox.api("POST", SCRIPTS, json=body)
        assert response.status_code == 422, change
        assert check_response(response, "POST", SCRIPTS)["detail"][0]["loc"] == ["body", field]
    assert sandbox.api("GET", SCRIPTS).status_code == 422
    patch = sandbox.api("PATCH", "/v2/lifecycle-scripts/ls_unknown", json={"name": "n"})
    assert patch.status_code == 404
    other = sandbox.api("GET", SCRIPTS, params={"project": "proj_unknown"})
    assert other.status_code == 404


def test_bid_that_references_a_script_runs_it_on_its_instance(
    mithril_sandbox, require_ssh, tmp_path
):
    sandbox = mithril_sandbox
    script = _create(sandbox, '#!/bin/bash\necho "from lifecycle script on $(hostname -s)"\n')
    key_fid, key_path = sandbox.new_ssh_key(tmp_path)
    startup = f"#!/bin/bash\ncurl -fsS '{script['content_url']}' | bash\n"
    bid = sandbox.place_bid(price="$99.00", ssh_keys=[key_fid], script=startup)
    [instance] = sandbox.running_instances(bid["fid"])

    def startup_log() -> str:
        command = "cat /var/log/foundry/startup_script.log"
        return ssh_run(instance["ssh_destination"], key_path, command).stdout

    assert "from lifecycle script on" in wait_for(startup_log, timeout=20)
    sandbox.api("DELETE", f"/v2/spot/bids/{bid['fid']}")
