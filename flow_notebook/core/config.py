"""Configuration: environment variables over ``$FLOW_HOME/config.yaml`` over defaults.

``FLOW_HOME`` (default ``~/.flow``) holds the config file and every piece of local
state (the local provider's tasks and volumes, caches, recorded log positions), so
pointing it at a temporary directory isolates a test or a second user completely.

Keys and the environment variables that override them:

=================  ====================  ==========================================
key                environment           meaning
=================  ====================  ==========================================
provider           FLOW_PROVIDER         ``local`` (default), ``mithril`` or ``slurm``
providers          FLOW_PROVIDERS        other providers ``%flow list`` and the
                                         dashboard show too, comma-separated
api_key            MITHRIL_API_KEY       Mithril API key (secret, never shown)
project            MITHRIL_PROJECT       Mithril project name or id
api_url            MITHRIL_API_URL       Mithril API base URL
ssh_key            MITHRIL_SSH_KEY       SSH key id/name or a private key path
region             MITHRIL_REGION        default region
=================  ====================  ==========================================

The Slurm provider reads its own ``FLOW_SLURM_*`` variables (or ``slurm_*`` keys of
the config file); see ``flow_notebook.providers.slurm.settings``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from flow_notebook.core.durations import duration_hours
from flow_notebook.core.errors import ConfigurationError
from flow_notebook.core.fs_errors import file_error

DEFAULT_PROVIDER = "local"
DEFAULT_MITHRIL_API_URL = "https://api.mithril.ai"
CONFIG_FILE_NAME = "config.yaml"

_ENV_KEYS = {
    "provider": "FLOW_PROVIDER",
    "providers": "FLOW_PROVIDERS",
    "api_key": "MITHRIL_API_KEY",
    "project": "MITHRIL_PROJECT",
    "api_url": "MITHRIL_API_URL",
    "ssh_key": "MITHRIL_SSH_KEY",
    "region": "MITHRIL_REGION",
}
SECRET_KEYS = frozenset({"api_key"})


def flow_home(environ: Mapping[str, str] | None = None) -> Path:
    """Returns the state directory: ``$FLOW_HOME`` or ``~/.flow``."""
    env = os.environ if environ is None else environ
    return Path(env.get("FLOW_HOME") or Path.home() / ".flow").expanduser()


@dataclass(frozen=True)
class FlowConfig:
    """Resolved configuration.

    Attributes:
        home: State directory (``FLOW_HOME``).
        provider: Name of the provider to use.
        providers: Other providers whose tasks listings show too (``providers: local,
            mithril`` in the file or ``FLOW_PROVIDERS``).
        api_key: Mithril API key; a ``SecretStr`` so it never prints.
        project: Mithril project name or id.
        api_url: Mithril API base URL.
        ssh_key: SSH key id, name or private key path.
        region: Default region.
        extra: Other keys found in the config file, passed to providers as is.
    """

    home: Path
    provider: str = DEFAULT_PROVIDER
    providers: tuple[str, ...] = ()
    api_key: SecretStr | None = None
    project: str | None = None
    api_url: str = DEFAULT_MITHRIL_API_URL
    ssh_key: str | None = None
    region: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        """Path of the config file inside ``home``."""
        return self.home / CONFIG_FILE_NAME

    def with_overrides(self, **changes: Any) -> FlowConfig:
        """Returns a copy with the given fields changed."""
        if "api_key" in changes and isinstance(changes["api_key"], str):
            changes["api_key"] = SecretStr(changes["api_key"])
        return replace(self, **changes)

    def masked(self) -> dict[str, str]:
        """Returns every setting as text, with secrets masked, for display."""
        shown: dict[str, str] = {}
        for key in _ENV_KEYS:
            value = getattr(self, key)
            if value in (None, ()):
                continue
            if isinstance(value, tuple):
                value = ", ".join(value)
            shown[key] = mask_secret(value) if key in SECRET_KEYS else str(value)
        shown["home"] = str(self.home)
        return shown


def mask_secret(value: SecretStr | str) -> str:
    """Returns a secret as its first characters and stars, e.g. ``fkey_***``."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    prefix = raw.split("_", 1)[0] + "_" if "_" in raw[:8] else ""
    return f"{prefix}***" if raw else ""


def load_config(environ: Mapping[str, str] | None = None) -> FlowConfig:
    """Loads the configuration from the config file and the environment.

    Args:
        environ: Environment to read; defaults to ``os.environ``.

    Returns:
        The resolved configuration.

    Raises:
        ConfigurationError: The config file exists but cannot be read.
    """
    env = os.environ if environ is None else environ
    home = flow_home(env)
    values: dict[str, Any] = _read_config_file(home / CONFIG_FILE_NAME)
    extra = {key: value for key, value in values.items() if key not in _ENV_KEYS}
    for key, env_name in _ENV_KEYS.items():
        if env.get(env_name):
            values[key] = env[env_name]
    api_key = values.get("api_key")
    return FlowConfig(
        home=home,
        provider=str(values.get("provider") or DEFAULT_PROVIDER).strip().lower(),
        providers=_names(values.get("providers")),
        api_key=SecretStr(str(api_key)) if api_key else None,
        project=_optional_str(values.get("project")),
        api_url=str(values.get("api_url") or DEFAULT_MITHRIL_API_URL).rstrip("/"),
        ssh_key=_optional_str(values.get("ssh_key")),
        region=_optional_str(values.get("region")),
        extra=extra,
    )


def save_config(config: FlowConfig, updates: dict[str, Any]) -> Path:
    """Writes ``updates`` into the config file atomically, with mode 0600.

    Only the keys in ``updates`` change; other keys in the file are kept.

    Args:
        config: The configuration whose ``home`` holds the file.
        updates: Keys to set; a ``None`` value removes the key.

    Returns:
        The path of the config file.

    Raises:
        ConfigurationError: An unknown key, or the file cannot be written.
    """
    import yaml

    unknown = set(updates) - set(_ENV_KEYS)
    if unknown:
        raise ConfigurationError(
            f"unknown config key: {', '.join(sorted(unknown))}",
            suggestion=f"known keys: {', '.join(_ENV_KEYS)}",
        )
    path = config.config_path
    values = _read_config_file(path)
    for key, value in updates.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(values, handle, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise file_error("write", path, exc) from None
    return path


def _read_config_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise file_error("read config file", path, exc) from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"cannot read config file {path}: not UTF-8 text (byte {exc.start})",
            suggestion="fix or delete the file, then %flow config again",
        ) from None
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigurationError(
            f"cannot read config file {path}: not valid YAML{line}",
            suggestion="fix or delete the file, then %flow config again",
        ) from None
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"config file {path} is not a mapping of keys to values")
    return dict(loaded)


def _names(value: Any) -> tuple[str, ...]:
    """Reads a list of provider names: ``a, b`` text or a YAML list."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    names = (str(item).strip().lower() for item in items)
    return tuple(dict.fromkeys(name for name in names if name))


def _optional_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def configured_run_limit(config: FlowConfig) -> float | None:
    """Returns the config file's ``max_run_time`` (e.g. ``4h``) in hours, if set.

    It is the run-time limit of tasks that set none.

    Raises:
        ConfigurationError: A value that is not a duration.
    """
    value = config.extra.get("max_run_time")
    if value in (None, ""):
        return None
    try:
        return duration_hours(str(value))
    except ValueError as exc:
        raise ConfigurationError(f"max_run_time in {config.config_path}: {exc}") from None
