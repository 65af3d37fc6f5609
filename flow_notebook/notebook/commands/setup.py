"""``%flow setup``: a form to check and save Mithril credentials (widget frontends)."""

from __future__ import annotations

from flow_notebook.core.config import load_config
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "setup"
SUMMARY = "form: API key, project and SSH key, checked before they are saved"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow setup``."""
    return make_parser(
        NAME,
        "Show a form for the Mithril API key (a password field), the project (from the "
        "key's projects) and the SSH key. The key is checked before anything is saved, "
        "the config file gets mode 0600, and the field is cleared after saving.",
        provider_option=False,
    )


def execute(session: FlowSession, argv: list[str]) -> None:
    """Shows the setup form, or says how to configure without widgets."""
    from flow_notebook.notebook.widgets.html import display, use_widgets

    build_parser().parse_line_args(argv)
    if not use_widgets():
        emit(
            "the setup form needs a widget frontend; set MITHRIL_API_KEY and MITHRIL_PROJECT "
            "in the environment, or use %flow config project=NAME"
        )
        return
    from flow_notebook.notebook.widgets.setup_form import SetupForm, SetupModel

    display(SetupForm(SetupModel(load_config())))
