"""``%flow help [COMMAND]``: the subcommands, or one subcommand's options."""

from __future__ import annotations

from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "help"
SUMMARY = "list the subcommands; %flow help COMMAND shows its options"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow help``."""
    parser = make_parser(
        NAME, "List the subcommands, or show one subcommand's options.", provider_option=False
    )
    parser.add_argument("command", metavar="COMMAND", nargs="?", help="a subcommand")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the overview or one subcommand's help.

    Raises:
        UsageError: ``COMMAND`` is not a subcommand.
    """
    # Imported here: the command table imports this module.
    from flow_notebook.notebook.commands import COMMANDS
    from flow_notebook.notebook.dispatch import lookup

    name = build_parser().parse_line_args(argv).command
    if name:
        emit(lookup(name).build_parser().format_help().rstrip("\n"))
        return
    width = max(len(command) for command in COMMANDS)
    lines = ["usage: %flow COMMAND [options]   (%flow help COMMAND for its options)", ""]
    lines += [f"  {command:<{width}}  {module.SUMMARY}" for command, module in COMMANDS.items()]
    emit("\n".join(lines))
