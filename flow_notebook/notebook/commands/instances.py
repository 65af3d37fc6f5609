"""``%flow instances [--gpu T] [--text]``: offers with price and capacity; pick one to run."""

from __future__ import annotations

from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.session import FlowSession

NAME = "instances"
SUMMARY = "instance types with price, capacity and region; pick one to submit a task"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow instances``."""
    parser = make_parser(
        NAME,
        "List the instance types the provider offers now, cheapest first, with price per "
        "hour, region and how many are available. In a widget frontend, choosing one shows "
        "its spot-price history and a form to submit a command on it.",
    )
    parser.add_argument("-g", "--gpu", metavar="TYPE", help="only this GPU type, e.g. h100")
    parser.add_argument("--text", action="store_true", help="print a text table instead")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Shows the offers.

    Raises:
        FlowError: The provider could not list offers.
    """
    from flow_notebook.notebook.widgets import front

    args = build_parser().parse_line_args(argv)
    front.show_instances(session, gpu=args.gpu, text=args.text, provider=args.provider)
