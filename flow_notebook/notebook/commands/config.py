"""``%flow config [key=value ...]``: show or change the saved configuration.

The API key is always shown masked, also right after it was set. It is never taken
from the magic's text: ``api_key=VALUE`` would leave the key in the notebook's source
and in IPython's history, so it is refused; ``%flow config api_key`` asks for it at a
hidden prompt (and ``%flow setup`` has a form).
"""

from __future__ import annotations

from flow_notebook.core.config import SECRET_KEYS, load_config, mask_secret, save_config
from flow_notebook.core.errors import ValidationError
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "config"
SUMMARY = "show the configuration (API key masked); key=value saves a setting"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow config``."""
    parser = make_parser(
        NAME,
        "Show the configuration, environment over config file, with the API key masked. "
        "KEY=VALUE saves a setting in the config file (mode 0600); KEY= removes it. "
        "Keys: provider, providers (others listed too, e.g. local,mithril), api_key, project, "
        "api_url, ssh_key, region. The API key is "
        "asked for at a hidden prompt: %flow config api_key (or use %flow setup).",
        provider_option=False,
    )
    parser.add_argument("settings", metavar="KEY=VALUE", nargs="*", help="settings to save")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the configuration, after saving any ``KEY=VALUE`` given.

    Raises:
        ValidationError: A setting is not ``KEY=VALUE``.
        ConfigurationError: An unknown key, or the file cannot be written.
    """
    settings = build_parser().parse_line_args(argv).settings
    config = load_config()
    if settings:
        updates = _updates(settings, session)
        path = save_config(config, updates)
        shown = ", ".join(f"{key}={_shown(key, value)}" for key, value in updates.items())
        emit(f"saved {shown} in {path}; %flow use PROVIDER or a new kernel applies it")
        config = load_config()
    width = max(len(key) for key in config.masked())
    emit("\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in config.masked().items()))


def _updates(settings: list[str], session: FlowSession) -> dict[str, str | None]:
    updates: dict[str, str | None] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if key in SECRET_KEYS and not sep:
            updates[key] = _ask_secret(session, key)
            continue
        if key in SECRET_KEYS and value.strip():
            # Never echo the value; it is already in the cell and IPython's history.
            raise ValidationError(
                f"%flow config {key}=VALUE is refused: the value would stay in the notebook "
                "and in IPython's history; nothing was saved",
                suggestion=f"clear that cell, then run %flow config {key} (hidden prompt)"
                " or %flow setup",
            )
        if not sep or not key:
            # Never echo the item: it may be a pasted API key.
            raise ValidationError("%flow config expects KEY=VALUE (e.g. region=us-central1-a)")
        updates[key] = value.strip() or None
    return updates


def _ask_secret(session: FlowSession, key: str) -> str:
    ask = session.secret_prompt
    if ask is None:
        raise ValidationError(
            f"no hidden prompt here to ask for {key}",
            suggestion="use %flow setup, or set MITHRIL_API_KEY in the kernel's environment",
        )
    value = ask(key).strip()
    if not value:
        raise ValidationError(f"no {key} was entered; nothing was saved")
    return value


def _shown(key: str, value: str | None) -> str:
    if value is None:
        return "(removed)"
    return mask_secret(value) if key in SECRET_KEYS else value
