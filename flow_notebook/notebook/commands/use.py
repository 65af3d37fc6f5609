"""``%flow use PROVIDER``: switch this kernel to another provider (``local``, ``mithril``)."""

from __future__ import annotations

from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "use"
SUMMARY = "switch this kernel to another provider, e.g. %flow use local"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow use``."""
    parser = make_parser(
        NAME,
        "Make PROVIDER the default for the following commands; the current one stays if "
        "it fails. Tasks of other providers still reach their own provider.",
        provider_option=False,
    )
    parser.add_argument("name", metavar="PROVIDER", help="provider name, e.g. local")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Builds the provider and makes it current.

    Raises:
        UnknownProviderError: No provider has that name.
        ConfigurationError: The provider is not configured.
    """
    name = build_parser().parse_line_args(argv).name.strip().lower()
    session.use(name)
    emit(f"using provider {name}")
