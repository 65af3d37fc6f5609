"""``IProviderInit`` for Mithril: what a setup form needs (projects, keys, fields, checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import SecretStr

from flow_notebook.core.config import DEFAULT_MITHRIL_API_URL, FlowConfig
from flow_notebook.core.errors import AuthenticationError, ConfigurationError, FlowError
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.domain.account import resolve_project

CONFIG_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {
        "description": "Mithril API key (fkey_...), from the Mithril console",
        "secret": True,
        "required": True,
        "env": "MITHRIL_API_KEY",
    },
    "project": {
        "description": "Project name or id the tasks run in",
        "secret": False,
        "required": True,
        "env": "MITHRIL_PROJECT",
    },
    "region": {
        "description": "Default region; empty lets the provider choose by capacity and price",
        "secret": False,
        "required": False,
        "env": "MITHRIL_REGION",
    },
    "ssh_key": {
        "description": "SSH key id, name or private key path; empty finds or creates one",
        "secret": False,
        "required": False,
        "env": "MITHRIL_SSH_KEY",
    },
    "api_url": {
        "description": "API base URL",
        "secret": False,
        "required": False,
        "default": DEFAULT_MITHRIL_API_URL,
        "env": "MITHRIL_API_URL",
    },
}


class InitApi(Protocol):
    """The endpoints setup uses."""

    def get_me(self) -> dto.MeResponse:
        """Returns the caller's profile."""
        ...

    def list_projects(self) -> list[dto.ProjectModel]:
        """Returns the caller's projects."""
        ...

    def list_ssh_keys(self, project: str) -> list[dto.NewSshKeyModel]:
        """Returns a project's keys."""
        ...

    def close(self) -> None:
        """Releases connections."""
        ...


ClientFactory = Callable[[SecretStr | None, str], InitApi]
"""Builds a client from an API key and a base URL."""


def default_client_factory(api_key: SecretStr | None, api_url: str) -> InitApi:
    """Returns an ``ApiClient`` for ``api_key`` at ``api_url``."""
    from flow_notebook.providers.mithril.api.client import ApiClient

    return ApiClient(api_key, base_url=api_url)


class MithrilInit:
    """Setup helpers bound to the current configuration.

    Args:
        config: The configuration whose key and project are the defaults.
        client_factory: Builds API clients (tests pass one over a mock transport).
    """

    def __init__(
        self, config: FlowConfig, client_factory: ClientFactory = default_client_factory
    ) -> None:
        self._config = config
        self._factory = client_factory

    def list_projects(self) -> list[dict[str, Any]]:
        """Returns ``{"id", "name"}`` of every project of the configured key."""
        client = self._client(self._config.api_key, self._config.api_url)
        try:
            return [{"id": p.fid, "name": p.name} for p in client.list_projects()]
        finally:
            client.close()

    def list_ssh_keys(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """Returns ``{"id", "name"}`` of the keys of a project (default: the configured one)."""
        client = self._client(self._config.api_key, self._config.api_url)
        try:
            project = resolve_project(client, project_id or self._config.project)
            return [{"id": k.fid, "name": k.name} for k in client.list_ssh_keys(project)]
        finally:
            client.close()

    def get_config_fields(self) -> dict[str, dict[str, Any]]:
        """Returns each setting's description, whether it is secret or required."""
        return {name: dict(spec) for name, spec in CONFIG_FIELDS.items()}

    def validate_config(self, config: dict[str, Any]) -> list[str]:
        """Checks a candidate configuration against the API (``GET /v2/me``, projects).

        Args:
            config: Candidate values (``api_key``, ``project``, ``api_url``); missing
                ones fall back to the current configuration.

        Returns:
            One line per problem; empty when the configuration works. Never echoes
            the key.
        """
        raw_key = config.get("api_key") or self._config.api_key
        key = SecretStr(raw_key) if isinstance(raw_key, str) else raw_key
        if not key or not key.get_secret_value():
            return ["api_key is missing: set it in the form or in MITHRIL_API_KEY"]
        url = str(config.get("api_url") or self._config.api_url).rstrip("/")
        client = self._client(key, url)
        try:
            return self._check(client, config.get("project") or self._config.project)
        finally:
            client.close()

    def _check(self, client: InitApi, project: str | None) -> list[str]:
        try:
            client.get_me()
        except AuthenticationError:
            return ["the API key was rejected: check it in the Mithril console"]
        except FlowError as exc:
            return [f"cannot check the API key: {exc.message}"]
        if not project:
            return ["project is missing: choose one of the account's projects"]
        try:
            resolve_project(client, project)
        except ConfigurationError as exc:
            return [exc.message]
        except FlowError as exc:
            return [f"cannot list projects: {exc.message}"]
        return []

    def _client(self, key: SecretStr | None, url: str) -> InitApi:
        return self._factory(key, url)
