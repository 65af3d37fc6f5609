from __future__ import annotations

import stat

import pytest

from flow_notebook.core.config import FlowConfig, load_config, mask_secret, save_config
from flow_notebook.core.errors import ConfigurationError, UnknownProviderError
from flow_notebook.core.registry import ProviderRegistry, get_provider
from flow_notebook.providers.local import LocalProvider


def test_defaults_without_file_or_environment(isolated_flow_home):
    config = load_config()
    assert config.home == isolated_flow_home
    assert config.provider == "local"
    assert config.api_key is None


def test_environment_wins_over_the_config_file(isolated_flow_home, monkeypatch):
    save_config(load_config(), {"provider": "mithril", "project": "from-file", "region": "r1"})
    monkeypatch.setenv("MITHRIL_PROJECT", "from-env")
    config = load_config()
    assert (config.provider, config.project, config.region) == ("mithril", "from-env", "r1")


def test_explicit_environ_mapping_is_used_instead_of_os_environ(tmp_path):
    config = load_config({"FLOW_HOME": str(tmp_path), "FLOW_PROVIDER": "Mithril"})
    assert config.home == tmp_path
    assert config.provider == "mithril"


def test_save_config_writes_mode_0600_and_keeps_other_keys(isolated_flow_home):
    path = save_config(load_config(), {"api_key": "fkey_abcdef", "project": "p"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    save_config(load_config(), {"project": None, "region": "r"})
    config = load_config()
    assert config.api_key.get_secret_value() == "fkey_abcdef"
    assert (config.project, config.region) == (None, "r")


def test_api_key_is_masked_everywhere_it_is_shown(isolated_flow_home):
    save_config(load_config(), {"api_key": "fkey_supersecret"})
    config = load_config()
    assert "supersecret" not in repr(config)
    assert "supersecret" not in str(config.masked())
    assert config.masked()["api_key"] == "fkey_***"
    assert mask_secret("plain") == "***"


def test_unknown_config_key_and_unreadable_file_are_configuration_errors(isolated_flow_home):
    with pytest.raises(ConfigurationError, match="unknown config key: colour"):
        save_config(load_config(), {"colour": "blue"})
    (isolated_flow_home / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigurationError, match="not a mapping"):
        load_config()
    (isolated_flow_home / "config.yaml").write_text("key: [unclosed\n")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config()


def test_unknown_provider_error_lists_the_known_names(isolated_flow_home):
    with pytest.raises(UnknownProviderError) as info:
        ProviderRegistry().create("azure")
    assert "azure" in info.value.message
    assert "local" in info.value.suggestion and "mithril" in info.value.suggestion


def test_default_provider_is_local(isolated_flow_home):
    provider = get_provider()
    try:
        assert isinstance(provider, LocalProvider)
    finally:
        provider.close()


def test_registered_factory_receives_config_with_its_provider_name(isolated_flow_home):
    seen = []
    registry = ProviderRegistry({})
    registry.register("Fake", lambda config: seen.append(config) or "built")
    assert registry.names() == ["fake"]
    assert registry.create("FAKE", FlowConfig(home=isolated_flow_home)) == "built"
    assert seen[0].provider == "fake"
