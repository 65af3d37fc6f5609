"""%flow config: shows settings with the key masked; KEY=VALUE saves with mode 0600."""

from __future__ import annotations

import stat

import pytest
import yaml
from IPython.core.error import UsageError

from .widgets.conftest import FullFakeProvider

KEY = "fkey_abcdefghijklmnop"


@pytest.fixture(autouse=True)
def _magics(use_provider):
    magics = use_provider(FullFakeProvider())
    magics.session.secret_prompt = lambda name: KEY if name == "api_key" else ""
    return magics


def test_shows_defaults(flow, isolated_flow_home):
    out = flow("config")[1]
    assert "provider: local" in out
    assert f"home:     {isolated_flow_home}" in out


def test_saving_the_key_never_shows_it(flow, isolated_flow_home):
    out = flow("config api_key project=demo")[1]
    assert KEY not in out
    assert "api_key=fkey_***" in out and "api_key:  fkey_***" in out
    path = isolated_flow_home / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {"api_key": KEY, "project": "demo"}


def test_empty_value_removes_the_key(flow, isolated_flow_home):
    flow("config region=us-central1-a")
    out = flow("config region=")[1]
    assert "region=(removed)" in out
    assert "region" not in yaml.safe_load((isolated_flow_home / "config.yaml").read_text())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"config {KEY}", "expects KEY=VALUE"),
        ("config colour=blue", "unknown config key: colour"),
    ],
)
def test_bad_settings_are_one_line_without_the_value(flow, line, message):
    with pytest.raises(UsageError, match=message) as caught:
        flow(line)
    assert KEY not in str(caught.value)


def test_the_api_key_in_the_magics_text_is_refused_with_the_way_to_do_it(flow, isolated_flow_home):
    with pytest.raises(UsageError) as caught:
        flow(f"config api_key={KEY}")
    message = str(caught.value)
    assert KEY not in message and "\n" not in message
    assert "refused" in message and "%flow config api_key (hidden prompt)" in message
    assert not (isolated_flow_home / "config.yaml").exists(), "nothing was saved"


def test_an_empty_prompt_saves_nothing(flow, _magics, isolated_flow_home):
    _magics.session.secret_prompt = lambda name: "  "
    with pytest.raises(UsageError, match="no api_key was entered"):
        flow("config api_key")
    assert not (isolated_flow_home / "config.yaml").exists()
