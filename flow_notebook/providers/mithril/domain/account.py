"""The account: the project id, users (cached), projects and registered SSH keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.errors import ConfigurationError, NotFoundError
from flow_notebook.core.models import User
from flow_notebook.providers.mithril.adapters.convert import (
    me_to_user,
    project_to_dict,
    teammate_to_user,
)
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.domain.caches import ILoadingCache, TtlCache
from flow_notebook.providers.mithril.domain.ssh_keys import save_key_pair

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ProjectsApi(Protocol):
    """The part of ``ApiClient`` that finds a project."""

    def list_projects(self) -> list[dto.ProjectModel]:
        """Returns the caller's projects."""
        ...


class AccountApi(Protocol):
    """The part of ``ApiClient`` about the account."""

    def get_me(self) -> dto.MeResponse:
        """Returns the caller's profile."""
        ...

    def list_teammates(self) -> list[dto.TeammateResponse]:
        """Returns the users visible to the caller."""
        ...

    def list_projects(self) -> list[dto.ProjectModel]:
        """Returns the caller's projects."""
        ...

    def list_ssh_keys(self, project: str) -> list[dto.NewSshKeyModel]:
        """Returns a project's SSH keys."""
        ...

    def create_ssh_key(self, request: dto.CreateSshKeyRequest) -> dto.CreatedSshKeyModel:
        """Registers or generates a key."""
        ...

    def delete_ssh_key(self, ssh_key_fid: str) -> None:
        """Deletes a key (a ``DELETE``, retried).

        Raises:
            NotFoundError: No key has this id.
        """
        ...


def resolve_project(api: ProjectsApi, spec: str | None, cache: ILoadingCache | None = None) -> str:
    """Returns the id of the project named or identified by ``spec``.

    Args:
        api: Lists projects.
        spec: Project name or id.
        cache: Holds the project list as JSON (``None``: always ask).

    Raises:
        ConfigurationError: No project is configured, or none matches.
    """
    if not spec:
        raise ConfigurationError(
            "no Mithril project configured",
            suggestion="run %flow setup or set MITHRIL_PROJECT to a project name or id",
        )

    def load() -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in api.list_projects()]

    projects = cache.get_or_load("projects", load) if cache is not None else load()
    for project in projects:
        if spec in (project["fid"], project["name"]):
            return str(project["fid"])
    names = ", ".join(sorted(p["name"] for p in projects)) or "none"
    raise ConfigurationError(
        f"no Mithril project {spec!r} for this API key; projects: {names}",
        suggestion="set MITHRIL_PROJECT to one of them",
    )


class AccountService:
    """Users, projects and SSH keys of the account.

    Args:
        api: Account endpoints.
        project: Project id (SSH keys belong to it).
        key_dir: Where generated private keys are saved (mode 0600).
        users: Cache of users by id.
    """

    def __init__(
        self,
        api: AccountApi,
        project: str,
        key_dir: Path,
        users: TtlCache[User] | None = None,
    ) -> None:
        self._api = api
        self._project = project
        self._key_dir = Path(key_dir)
        self._users: TtlCache[User] = users or TtlCache(ttl_seconds=300, max_entries=128)

    def get_user(self, user_id: str) -> User:
        """Returns a user: the caller (``me`` or their id) or a teammate; cached.

        Raises:
            NotFoundError: No visible user has this id.
        """
        return self._users.get_or_load(user_id, lambda: self._load_user(user_id))

    def projects(self) -> list[dict[str, Any]]:
        """Returns the projects as ``{"id", "name", "created_at"}`` dicts."""
        return [project_to_dict(p) for p in self._api.list_projects()]

    def ssh_keys(self) -> list[dict[str, Any]]:
        """Returns the project's keys (public parts only)."""
        return [_key_dict(k) for k in self._api.list_ssh_keys(self._project)]

    def create_ssh_key(self, name: str, public_key: str | None = None) -> dict[str, Any]:
        """Registers a public key, or has the platform generate a pair.

        A generated private key is saved under ``key_dir`` with mode 0600; only its
        path is returned, never the key itself.
        """
        request = dto.CreateSshKeyRequest(project=self._project, name=name, public_key=public_key)
        created = self._api.create_ssh_key(request)
        result = _key_dict(created)
        if created.private_key:
            path = self._key_dir / (_SAFE_NAME.sub("-", created.fid) or "key")
            if not save_key_pair(path, created.private_key, created.public_key):
                raise ConfigurationError(
                    f"a key file {path} already exists; the generated key {created.fid} "
                    "was not saved",
                    suggestion=f"delete the key {created.fid} and generate another",
                )
            result["private_key_path"] = str(path)
        return result

    def delete_ssh_key(self, key_id: str) -> bool:
        """Deletes a key; ``False`` when it did not exist."""
        try:
            self._api.delete_ssh_key(key_id)
        except NotFoundError:
            return False
        return True

    def _load_user(self, user_id: str) -> User:
        me = self._api.get_me()
        if user_id in ("", "me", me.fid, me.id):
            return me_to_user(me)
        for mate in self._api.list_teammates():
            if user_id in (mate.fid, mate.id):
                return teammate_to_user(mate)
        raise NotFoundError(f"no Mithril user {user_id!r} is visible to this account")


def _key_dict(key: dto.NewSshKeyModel | dto.CreatedSshKeyModel) -> dict[str, Any]:
    return {
        "id": key.fid,
        "name": key.name,
        "public_key": key.public_key,
        "required": key.required,
        "created_at": key.created_at.isoformat(),
    }
