"""Argument parsing for ``%flow`` subcommands: a parser that never exits, shared option groups.

Every parser raises IPython's ``UsageError`` instead of exiting, so a user sees one
line instead of a traceback (or a dead kernel). The resource and output option groups
are defined once here because ``%flow run`` and the later ``%%flow run`` cell magic
share them.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from IPython.core.error import UsageError

from flow_notebook.core.durations import duration_hours
from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskConfig, VolumeSpec

Number = TypeVar("Number", int, float)
SecretPrompt = Callable[[str], str]
"""Asks for the value of a secret variable by name (e.g. ``getpass``)."""


class HelpShown(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised after a parser printed its help for ``-h``, to stop the subcommand quietly."""


class FlowArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise ``UsageError`` and whose ``-h`` returns."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        """Raises ``UsageError`` naming the subcommand, instead of exiting."""
        raise UsageError(f"{self.prog}: {message} (see %flow help {self.prog.split()[-1]})")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """Stops parsing without exiting the interpreter."""
        if status == 0:
            raise HelpShown()
        self.error(message or "invalid arguments")

    def parse_line_args(self, argv: list[str]) -> argparse.Namespace:
        """Parses ``argv``; turns ``argparse.ArgumentError`` into ``UsageError`` too."""
        try:
            return self.parse_args(argv)
        except argparse.ArgumentError as exc:
            self.error(str(exc))


def make_parser(
    command: str, description: str, *, provider_option: bool = True
) -> FlowArgumentParser:
    """Builds the parser of one subcommand.

    Args:
        command: Subcommand name, e.g. ``run``.
        description: One paragraph shown by ``%flow help COMMAND``.
        provider_option: Add ``--provider NAME`` (every subcommand that talks to a
            provider has it; ``help``, ``use`` and ``config`` do not).

    Returns:
        A parser whose program name is ``%flow COMMAND``.
    """
    parser = FlowArgumentParser(prog=f"%flow {command}", description=description)
    if provider_option:
        add_provider_option(parser)
    return parser


def add_provider_option(parser: argparse.ArgumentParser) -> None:
    """Adds ``--provider NAME``: which provider a subcommand talks to."""
    parser.add_argument(
        "--provider",
        type=provider_name,
        metavar="NAME",
        help="the provider to use, e.g. local or mithril (default: the task's own "
        "provider, else the configured one)",
    )


def ranged(
    kind: Callable[[str], Number], name: str, low: Number, high: Number | None = None
) -> Callable[[str], Number]:
    """Returns an argparse ``type`` reading ``kind`` from ``low`` to ``high`` (inclusive).

    Out of range or unreadable, argparse says ``invalid <name> value: '<text>'``.
    """

    def read(text: str) -> Number:
        value = kind(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value

    read.__name__ = name  # argparse names the type in its error
    return read


POSITIVE_INT = ranged(int, "positive integer", 1)


def provider_name(text: str) -> str:
    """Reads a ``--provider`` name (an argparse ``type``): trimmed, lower case, not empty.

    Raises:
        argparse.ArgumentTypeError: The name is empty.
    """
    name = text.strip().lower()
    if not name:
        raise argparse.ArgumentTypeError("expected a provider name, e.g. local")
    return name


def positive_number(text: str) -> float:
    """Reads a finite number above 0 (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: Not a number, not finite, or 0 or less.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def run_time(text: str) -> float:
    """Reads a ``--max-run-time`` duration into hours (an argparse ``type``).

    Raises:
        argparse.ArgumentTypeError: Not a duration above zero.
    """
    try:
        return duration_hours(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_resource_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options that describe what a task runs on and with."""
    group = parser.add_argument_group("resources")
    group.add_argument(
        "-g", "--gpu", metavar="TYPE", help="GPU or instance type, e.g. a100, 8xh100"
    )
    group.add_argument("--instances", type=int, metavar="N", help="number of instances (default 1)")
    group.add_argument("--region", help="region to run in (default: provider's choice)")
    group.add_argument(
        "--max-price", type=float, metavar="USD", help="highest price per instance-hour, in dollars"
    )
    group.add_argument(
        "--max-cost",
        type=positive_number,
        metavar="USD",
        help="cancel the task when its accrued cost reaches this many dollars",
    )
    group.add_argument(
        "--max-run-time",
        type=run_time,
        metavar="DURATION",
        help="stop the task after this long on its instances, e.g. 20s, 90m, 4h "
        "(enforced on the instances, with no kernel needed)",
    )
    group.add_argument(
        "--keep-alive",
        action="store_true",
        help="keep the instances after the command ends (only a limit or a cancel ends them)",
    )
    group.add_argument("--image", help="container image or environment name")
    group.add_argument(
        "--reservation",
        metavar="ID",
        help="run on this reservation's instances (no bid; see %%flow reservations)",
    )
    group.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="environment variable for the task (repeatable; not secret)",
    )
    group.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="K[=V]",
        help="secret environment variable (repeatable; masked everywhere); "
        "K alone takes the value from this kernel's environment",
    )
    group.add_argument("--name", help="task name (letters, digits, '.', '_', '-')")
    upload = group.add_mutually_exclusive_group()
    upload.add_argument(
        "--upload", dest="upload", action="store_true", default=None, help="send local code"
    )
    upload.add_argument(
        "--no-upload", dest="upload", action="store_false", help="do not send local code"
    )
    group.add_argument("--code", metavar="PATH", help="local directory to send (implies --upload)")
    group.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="NAME_OR_ID[:PATH]",
        help="attach a volume at PATH on the instance (repeatable; default PATH /data)",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options that say how long to stay with a task and what to show."""
    group = parser.add_argument_group("output")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--follow", action="store_true", help="stream the task's output until it ends"
    )
    mode.add_argument("--wait", action="store_true", help="wait until the task ends, quietly")
    add_wait_options(
        group,
        timeout_help="stop following/waiting after this long (the task keeps running)",
        interrupt_help="what interrupting the kernel while following does: detach (default; "
        "the task keeps running) or cancel the task and wait until it ended",
    )
    add_keep_option(group)


def add_keep_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Adds ``--keep-kb``: how much output a view keeps in the notebook."""
    parser.add_argument(
        "--keep-kb",
        type=keep_kb,
        metavar="KB",
        help="output kept in the notebook, in KB (default 64; the full log stays retrievable)",
    )


def keep_kb(text: str) -> int:
    """Parses ``--keep-kb``: a whole number of KB, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of KB: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 KB, not {value}")
    return value


def add_wait_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    timeout_help: str,
    interrupt_help: str,
) -> None:
    """Adds ``--timeout`` (positive seconds) and ``--on-interrupt`` (detach or cancel).

    Args:
        parser: The parser or argument group to add them to.
        timeout_help: Help of ``--timeout``.
        interrupt_help: Help of ``--on-interrupt``.
    """
    parser.add_argument("--timeout", type=positive_number, metavar="SECONDS", help=timeout_help)
    parser.add_argument(
        "--on-interrupt", choices=("detach", "cancel"), default="detach", help=interrupt_help
    )


def add_cell_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options only a cell body can use (``%%flow run``)."""
    group = parser.add_argument_group("cell")
    group.add_argument("--bash", action="store_true", help="run the cell with bash, not Python")
    group.add_argument(
        "--push",
        action="append",
        default=[],
        metavar="A,B",
        help="send these notebook variables to the task (pickled; repeatable)",
    )
    group.add_argument(
        "--pull",
        action="append",
        default=[],
        metavar="C",
        help="bring these variables back into the notebook when the task ends (repeatable)",
    )


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Splits ``argv`` at the first ``--`` into options and the command.

    Returns:
        ``(options, command)``; ``command`` is empty when there is no ``--``.
    """
    if "--" not in argv:
        return argv, []
    index = argv.index("--")
    return argv[:index], argv[index + 1 :]


def command_value(command: list[str]) -> list[str] | str:
    """Returns what ``TaskConfig.command`` gets for the words after ``--``.

    One word holding whitespace (``-- "make && ./run"``) is a shell line, run by
    ``bash -c``; anything else is an argv list, run without a shell.
    """
    if len(command) == 1 and any(ch.isspace() for ch in command[0]):
        return command[0]
    return command


def task_config_from_args(
    args: argparse.Namespace,
    command: list[str] | str | None = None,
    script: str | None = None,
    environ: dict[str, str] | None = None,
    *,
    prompt: SecretPrompt | None = None,
    is_volume_id: Callable[[str], bool] | None = None,
) -> TaskConfig:
    """Builds a ``TaskConfig`` from parsed resource options.

    Args:
        args: Namespace filled by ``add_resource_options``.
        command: The command to run.
        script: A script body to run instead of ``command`` (cell magic).
        environ: Where ``--secret K`` looks values up; defaults to ``os.environ``.
        prompt: Asks for a secret that is not in ``environ`` (e.g. ``getpass``); without
            it a missing secret is an error.
        is_volume_id: Tells a volume id from a name in ``--volume``; without it every
            value is a name.

    Returns:
        A validated task configuration.

    Raises:
        ValidationError: An option value is malformed; the message never holds a secret.
    """
    values: dict[str, Any] = {
        "command": command,
        "script": script,
        "env": _pairs(args.env, option="--env", environ=None),
        "secrets": _pairs(
            args.secret, option="--secret", environ=environ or dict(os.environ), prompt=prompt
        ),
        "volumes": [volume_spec(text, is_volume_id) for text in getattr(args, "volume", [])],
    }
    optional = {
        "name": args.name,
        "num_instances": args.instances,
        "region": args.region,
        "max_price_per_hour": args.max_price,
        "image": args.image,
        "max_run_time_hours": getattr(args, "max_run_time", None),
        "max_cost": getattr(args, "max_cost", None),
        "keep_alive": getattr(args, "keep_alive", False) or None,
        "reservation_id": getattr(args, "reservation", None),
    }
    values.update({key: value for key, value in optional.items() if value is not None})
    if args.code:
        values["code_root"] = Path(args.code).expanduser()
        values["upload_code"] = args.upload is not False
    elif args.upload is not None:
        values["upload_code"] = args.upload
    return build_task_config(values)


def build_task_config(values: dict[str, Any]) -> TaskConfig:
    """Validates ``values`` into a ``TaskConfig``, mapping pydantic errors to one line.

    Raises:
        ValidationError: With the first problem found; input values are not echoed.
    """
    import pydantic

    try:
        return TaskConfig(**values)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        prefix = f"{field}: " if field else ""
        # Not chained: pydantic's message quotes input values, and those may be secrets.
        raise ValidationError(f"{prefix}{message}", field=field) from None


def volume_spec(text: str, is_volume_id: Callable[[str], bool] | None = None) -> VolumeSpec:
    """Turns ``NAME_OR_ID[:PATH]`` into a ``VolumeSpec``.

    Raises:
        ValidationError: An empty name or a mount path that is not absolute.
    """
    ident, _, path = text.partition(":")
    ident = ident.strip()
    if not ident:
        raise ValidationError(f"--volume expects NAME_OR_ID[:PATH], got {text!r}")
    key = "volume_id" if is_volume_id is not None and is_volume_id(ident) else "name"
    values: dict[str, Any] = {key: ident}
    if path:
        values["mount_path"] = path
    import pydantic

    try:
        return VolumeSpec(**values)
    except pydantic.ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ValidationError(f"--volume {text}: {message}", field="volumes") from None


def _pairs(
    items: list[str],
    *,
    option: str,
    environ: dict[str, str] | None,
    prompt: SecretPrompt | None = None,
) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            if environ is None:
                raise ValidationError(f"{option} expects KEY=VALUE, got {item!r}")
            if key not in environ and prompt is not None and key:
                value = _ask(prompt, key, option)
            elif key not in environ:
                # Secrets given by name only come from the kernel's environment.
                raise ValidationError(
                    f"{option} {key}: no such variable in this kernel's environment",
                    suggestion=f"set it first, or use {option} {key}=VALUE",
                )
            else:
                value = environ[key]
        if not key:
            raise ValidationError(f"{option} expects KEY=VALUE, with a non-empty KEY")
        pairs[key] = value
    return pairs


def _ask(prompt: SecretPrompt, key: str, option: str) -> str:
    try:
        value = prompt(key)
    except (EOFError, OSError, RuntimeError) as exc:
        # No way to ask here (no terminal, or a frontend without stdin).
        raise ValidationError(
            f"{option} {key}: not in this kernel's environment and cannot be asked for",
            suggestion=f"set it first, or use {option} {key}=VALUE",
        ) from exc
    if not value:
        raise ValidationError(f"{option} {key}: no value given")
    return value
