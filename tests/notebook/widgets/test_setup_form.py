"""The setup form: key checked before saving, 0600 file, key cleared from widget state."""

from __future__ import annotations

import stat

import yaml

from flow_notebook.core.config import load_config
from flow_notebook.core.errors import AuthenticationError
from flow_notebook.notebook.widgets.setup_form import SetupForm, SetupModel

KEY = "fkey_secretsecret"


class FakeInit:
    def __init__(self, config) -> None:
        self.key = config.api_key.get_secret_value()
        self.validated: list[dict] = []

    def list_projects(self):
        if self.key != KEY:
            raise AuthenticationError("the API key was rejected")
        return [{"id": "proj_1", "name": "research"}, {"id": "proj_2", "name": "prod"}]

    def list_ssh_keys(self, project_id=None):
        return [{"id": "sshkey_1", "name": f"laptop-{project_id}"}]

    def get_config_fields(self):
        return {}

    def validate_config(self, config):
        self.validated.append(config)
        return [] if config["project"] == "proj_1" else ["project prod is read-only"]


def _form() -> SetupForm:
    return SetupForm(SetupModel(load_config(), init_factory=FakeInit))


def test_check_lists_projects_and_keys():
    form = _form()
    form.api_key.value = KEY
    form.check_button.click()
    assert form.project.options == (("research", "proj_1"), ("prod", "proj_2"))
    assert form.project.value == "proj_1"
    assert ("laptop-proj_1", "sshkey_1") in form.ssh_key.options
    assert not form.save_button.disabled


def test_rejected_key_is_one_line_and_nothing_is_enabled():
    form = _form()
    form.api_key.value = "fkey_wrong"
    form.check()
    assert "rejected" in form.status.value
    assert form.save_button.disabled and form.project.disabled
    assert "fkey_wrong" not in form.status.value


def test_save_validates_writes_0600_and_clears_the_key(isolated_flow_home):
    form = _form()
    form.api_key.value = KEY
    form.check()
    form.ssh_key.value = "sshkey_1"
    form.save_button.click()
    path = isolated_flow_home / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "provider": "mithril",
        "api_key": KEY,
        "project": "proj_1",
        "ssh_key": "sshkey_1",
    }
    assert form.api_key.value == ""
    assert KEY not in str(form.root.get_state()) and KEY not in form.status.value


def test_validation_problems_block_saving(isolated_flow_home):
    form = _form()
    form.api_key.value = KEY
    form.check()
    form.project.value = "proj_2"
    form.save()
    assert "read-only" in form.status.value
    assert not (isolated_flow_home / "config.yaml").exists()
    assert form.api_key.value == KEY


def test_save_before_check_asks_for_the_check():
    form = _form()
    form.api_key.value = KEY
    form.save()
    assert "check the API key first" in form.status.value


def test_error_message_markup_is_shown_as_text():
    class MarkupInit(FakeInit):
        def list_projects(self):
            raise AuthenticationError("<script>alert(1)</script> rejected")

    form = SetupForm(SetupModel(load_config(), init_factory=MarkupInit))
    form.api_key.value = KEY
    form.check()
    assert "<script>" not in form.status.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt; rejected" in form.status.value
