"""MithrilInit: setup fields, projects and keys, and a config check that calls /v2/me."""

from __future__ import annotations

import json

from flow_notebook.core.config import FlowConfig
from flow_notebook.providers.mithril.api import ApiClient, MockTransport, TransportResponse
from flow_notebook.providers.mithril.init_interface import MithrilInit

GOOD_KEY = "fkey_good"
ME = {"id": "u1", "fid": "user_1", "email": "me@example.com", "organization_id": "org_1"}
PROJECTS = [{"fid": "proj_1", "name": "research", "created_at": "2024-01-01T00:00:00Z"}]
KEYS = [
    {
        "fid": "sshkey_1",
        "name": "laptop",
        "project": "proj_1",
        "public_key": "ssh-ed25519 AAAA",
        "created_at": "2024-01-01T00:00:00Z",
        "required": False,
    }
]


def _answer(request):
    if request.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
        return TransportResponse(401, {}, json.dumps({"detail": "Invalid credentials"}).encode())
    path = request.url.split("://", 1)[1].split("/", 1)[1]
    body = {"v2/me": ME, "v2/projects": PROJECTS, "v2/ssh-keys": KEYS}[path]
    return TransportResponse(200, {}, json.dumps(body).encode())


def _init(tmp_path, key: str | None = GOOD_KEY) -> tuple[MithrilInit, list]:
    seen: list = []

    def factory(api_key, api_url):
        transport = MockTransport(_answer)
        seen.append(transport)
        return ApiClient(api_key, base_url=api_url, transport=transport)

    config = FlowConfig(home=tmp_path, provider="mithril", project="research")
    if key:
        config = config.with_overrides(api_key=key)
    return MithrilInit(config, client_factory=factory), seen


def test_config_fields_mark_the_api_key_secret(tmp_path):
    fields = _init(tmp_path)[0].get_config_fields()
    assert fields["api_key"]["secret"] is True and fields["api_key"]["required"] is True
    assert fields["project"]["secret"] is False


def test_lists_projects_and_keys_of_the_configured_project(tmp_path):
    init, _ = _init(tmp_path)
    assert init.list_projects() == [{"id": "proj_1", "name": "research"}]
    assert init.list_ssh_keys() == [{"id": "sshkey_1", "name": "laptop"}]


def test_validate_accepts_a_working_key_and_calls_me_with_the_candidate(tmp_path):
    init, seen = _init(tmp_path, key=None)
    assert init.validate_config({"api_key": GOOD_KEY, "project": "proj_1"}) == []
    paths = [r.url.rsplit("/v2/", 1)[1] for r in seen[-1].requests]
    assert paths[0] == "me"
    assert seen[-1].closed


def test_validate_reports_a_rejected_key_without_echoing_it(tmp_path):
    problems = _init(tmp_path)[0].validate_config({"api_key": "fkey_wrong"})
    assert problems == ["the API key was rejected: check it in the Mithril console"]
    assert "fkey_wrong" not in " ".join(problems)


def test_validate_reports_missing_key_and_unknown_project(tmp_path):
    assert "api_key is missing" in _init(tmp_path, key=None)[0].validate_config({})[0]
    problems = _init(tmp_path)[0].validate_config({"project": "nope"})
    assert problems == ["no Mithril project 'nope' for this API key; projects: research"]
