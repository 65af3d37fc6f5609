"""AccountService and resolve_project: project lookup, cached users, keys without secrets."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import ConfigurationError, NotFoundError
from flow_notebook.providers.mithril.domain.account import AccountService, resolve_project
from flow_notebook.providers.mithril.domain.caches import TtlCache


def test_project_resolves_by_name_or_id_and_names_the_choices_when_unknown(fake):
    client = fake.client()
    assert resolve_project(client, "test") == "proj_test"
    assert resolve_project(client, "proj_test") == "proj_test"
    with pytest.raises(ConfigurationError, match="projects: test"):
        resolve_project(client, "other")
    with pytest.raises(ConfigurationError, match="MITHRIL_PROJECT"):
        resolve_project(client, None)


def test_project_list_is_loaded_once_through_the_cache(fake):
    client, cache = fake.client(), TtlCache(60.0)
    resolve_project(client, "test", cache)
    resolve_project(client, "proj_test", cache)
    assert fake.count("GET", "/v2/projects") == 1


def test_users_are_cached_and_unknown_ids_are_not_found(fake, tmp_path):
    account = AccountService(fake.client(), "proj_test", tmp_path)
    assert account.get_user("me").username == "me"
    assert account.get_user("me").user_id == "user_1"
    assert fake.count("GET", "/v2/me") == 1
    with pytest.raises(NotFoundError):
        account.get_user("user_404")


def test_deleting_a_missing_key_returns_false(fake, tmp_path):
    assert AccountService(fake.client(), "proj_test", tmp_path).delete_ssh_key("sshkey_x") is False
