"""``%flow setup``: the form that checks Mithril credentials and saves them.

``SetupModel`` holds the logic (list projects and SSH keys with a candidate key,
validate, save with mode 0600); ``SetupForm`` draws it. After saving, the password
field is cleared, so the key stays in no widget state.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from flow_notebook.core.config import FlowConfig, save_config
from flow_notebook.core.errors import ConfigurationError, FlowError, ValidationError
from flow_notebook.core.provider_interfaces import IClosable, IInitInterface, IProviderInit

InitFactory = Callable[[FlowConfig], IProviderInit]
Saver = Callable[[FlowConfig, dict[str, Any]], Path]
SETUP_PROVIDER = "mithril"
DEFAULT_KEY_CHOICE = ("use a local key (generated when missing)", "")


def registry_init(config: FlowConfig) -> IProviderInit:
    """Returns the setup interface of the Mithril provider built from ``config``.

    ``config`` needs only the API key: the project is what the form asks for.

    Raises:
        ConfigurationError: The provider has no setup interface.
    """
    from flow_notebook.core.registry import get_provider

    provider = get_provider(SETUP_PROVIDER, config)
    if isinstance(provider, IInitInterface):
        init = provider.get_init_interface()
        if isinstance(provider, IClosable):
            # The setup interface makes its own short-lived clients; nothing else is needed.
            provider.close()
        return init
    if isinstance(provider, IProviderInit):
        return provider
    raise ConfigurationError(f"provider {SETUP_PROVIDER} has no setup interface")


class SetupModel:
    """Checks a candidate API key, lists its projects and keys, and saves the result.

    Args:
        config: The current configuration (its ``home`` receives the file).
        init_factory: Builds the provider's setup interface from a configuration.
        save: Writes settings (default ``core.config.save_config``, mode 0600).
    """

    def __init__(
        self,
        config: FlowConfig,
        *,
        init_factory: InitFactory = registry_init,
        save: Saver = save_config,
    ) -> None:
        self.config = config
        self._init_factory = init_factory
        self._save = save
        self._init: IProviderInit | None = None

    def connect(self, api_key: str) -> list[tuple[str, str]]:
        """Lists the projects the key can use, as ``(label, id)``.

        Raises:
            ValidationError: No key given.
            FlowError: The key was rejected or the API failed.
        """
        if not api_key.strip():
            raise ValidationError("paste the API key first", field="api_key")
        candidate = self.config.with_overrides(api_key=SecretStr(api_key.strip()))
        self._init = self._init_factory(candidate)
        projects = self._init.list_projects()
        return [(str(p.get("name") or p["id"]), str(p["id"])) for p in projects]

    def ssh_keys(self, project_id: str) -> list[tuple[str, str]]:
        """Lists the project's SSH keys as ``(label, id)``, after the local-key choice."""
        keys = self._require_init().list_ssh_keys(project_id)
        return [DEFAULT_KEY_CHOICE] + [(str(k.get("name") or k["id"]), str(k["id"])) for k in keys]

    def save(self, api_key: str, project: str, ssh_key: str | None) -> Path:
        """Validates the settings with the provider, then saves them (mode 0600).

        Returns:
            The config file written.

        Raises:
            ValidationError: The provider found problems (listed in one line).
        """
        candidate = {"api_key": api_key.strip(), "project": project, "api_url": self.config.api_url}
        problems = self._require_init().validate_config(candidate)
        if problems:
            raise ValidationError("; ".join(problems))
        updates = {
            "provider": SETUP_PROVIDER,
            "api_key": SecretStr(api_key.strip()),
            "project": project,
            "ssh_key": ssh_key or None,
        }
        return self._save(self.config, updates)

    def _require_init(self) -> IProviderInit:
        if self._init is None:
            raise ValidationError("check the API key first", field="api_key")
        return self._init


class SetupForm:
    """API key (password field), project and SSH key choices, Save."""

    def __init__(self, model: SetupModel) -> None:
        import ipywidgets as w

        self.model = model
        self.api_key = w.Password(description="API key", placeholder="fkey_...")
        self.check_button = w.Button(description="Check key", icon="check")
        self.project = w.Dropdown(options=[], description="project", disabled=True)
        self.ssh_key = w.Dropdown(options=[], description="SSH key", disabled=True)
        self.save_button = w.Button(description="Save", button_style="primary", disabled=True)
        self.status = w.HTML()
        self.check_button.on_click(lambda _: self.check())
        self.save_button.on_click(lambda _: self.save())
        self.project.observe(self._on_project, names="value")
        self.root = w.VBox(
            [
                w.HBox([self.api_key, self.check_button]),
                self.project,
                self.ssh_key,
                self.save_button,
                self.status,
            ]
        )
        self.root.add_class("flow-setup")

    def check(self) -> None:
        """Checks the key by listing its projects; enables the project choice."""
        try:
            projects = self.model.connect(self.api_key.value)
        except FlowError as exc:
            self._show(str(exc), error=True)
            return
        self.project.options = projects
        self.project.value = projects[0][1] if projects else None
        self._load_keys(self.project.value)
        self.project.disabled = self.ssh_key.disabled = False
        self.save_button.disabled = not projects
        self._show(f"key accepted: {len(projects)} project(s)")

    def save(self) -> None:
        """Validates and saves; clears the key from the form when saved."""
        try:
            path = self.model.save(self.api_key.value, self.project.value or "", self.ssh_key.value)
        except FlowError as exc:
            self._show(str(exc), error=True)
            return
        self.api_key.value = ""
        self.save_button.disabled = True
        self._show(f"saved in {path}; %flow use mithril switches to it")

    def _on_project(self, change: dict[str, Any]) -> None:
        self._load_keys(change["new"])

    def _load_keys(self, project_id: str | None) -> None:
        if not project_id:
            return
        try:
            self.ssh_key.options = self.model.ssh_keys(project_id)
            self.ssh_key.value = DEFAULT_KEY_CHOICE[1]
        except FlowError as exc:
            self.ssh_key.options = [DEFAULT_KEY_CHOICE]
            self._show(f"cannot list SSH keys: {exc}", error=True)

    def _show(self, message: str, *, error: bool = False) -> None:
        colour = "#cf222e" if error else "#1a7f37"
        self.status.value = f"<span style='color:{colour}'>{html.escape(message)}</span>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = "setup form (needs a widget frontend; or use %flow config)"
        return bundle
