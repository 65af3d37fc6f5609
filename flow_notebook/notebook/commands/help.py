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
    name = build_parser().parse_line_args(argv).command
    emit(command_help(name) if name else overview())


def overview() -> str:
    """Returns the list of subcommands, one line each (``%flow help`` and ``%flow?``)."""
    # Imported here: the command table imports this module.
    from flow_notebook.notebook.commands import COMMANDS

    width = max(len(command) for command in COMMANDS)
    lines = ["usage: %flow COMMAND [options]   (%flow help COMMAND for its options)", ""]
    lines += [f"  {command:<{width}}  {module.SUMMARY}" for command, module in COMMANDS.items()]
    return "\n".join(lines)


def command_help(name: str) -> str:
    """Returns one subcommand's help, made by its parser (``%flow help NAME``, ``%flow NAME?``).

    Raises:
        UsageError: ``name`` is not a subcommand.
    """
    from flow_notebook.notebook.dispatch import lookup

    parser: FlowArgumentParser = lookup(name).build_parser()
    return parser.format_help().rstrip("\n")
