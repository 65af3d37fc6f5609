"""AccountService and resolve_project: project lookup, cached users, keys without secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flow_notebook.core.errors import ConfigurationError, NotFoundError
from flow_notebook.providers.mithril.domain.account import AccountService, resolve_project
from flow_notebook.providers.mithril.domain.caches import TtlCache

from ..conftest import GENERATED_PRIVATE_KEY


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


def test_a_generated_key_is_saved_0600_with_its_public_part_and_never_over_a_key(fake, tmp_path):
    account = AccountService(fake.client(), "proj_test", tmp_path)
    created = account.create_ssh_key("made-here")
    path = Path(created["private_key_path"])
    assert path.read_text() == GENERATED_PRIVATE_KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Path(f"{path}.pub").read_text() == "ssh-ed25519 AAAA\n"
    assert "private_key" not in created

    # A key file already at the next key's path is kept, and the caller told.
    taken = tmp_path / f"sshkey_{int(created['id'].split('_')[1]) + 1}"
    taken.write_text("someone else's key")
    with pytest.raises(ConfigurationError, match="already exists"):
        account.create_ssh_key("second")
    assert taken.read_text() == "someone else's key"
