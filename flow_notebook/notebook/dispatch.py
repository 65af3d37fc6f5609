"""Routes a ``%flow`` line (or a ``%%flow run`` cell) and turns every failure into one line.

This is the one place where ``FlowError`` becomes IPython's ``UsageError``, which
IPython shows as a single line without a traceback.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from types import ModuleType
from typing import Any

from IPython.core.error import UsageError

from flow_notebook.core.errors import FlowError
from flow_notebook.notebook.arguments import HelpShown
from flow_notebook.notebook.session import FlowSession


def lookup(name: str) -> ModuleType:
    """Returns the module of subcommand ``name``.

    Raises:
        UsageError: No such subcommand; suggests the closest one.
    """
    from flow_notebook.notebook.commands import COMMANDS

    module = COMMANDS.get(name)
    if module is not None:
        return module
    close = difflib.get_close_matches(name, list(COMMANDS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(f"unknown subcommand {name!r} ({hint}see %flow help)")


def dispatch(session: FlowSession, line: str) -> Any:
    """Runs the ``%flow`` line ``line``.

    Args:
        session: The kernel's shared state.
        line: Everything after ``%flow``.

    Returns:
        What the subcommand returns (``%flow run`` returns the ``Task``).

    Raises:
        UsageError: For every bad input and every ``FlowError``, as one line.
    """
    argv = _words(line)
    name, rest = (argv[0], argv[1:]) if argv else ("help", [])
    module = lookup(name)
    return _one_line_errors(module.execute, session, rest)


def dispatch_cell(session: FlowSession, line: str, cell: str) -> None:
    """Runs the cell magic ``%%flow LINE`` with body ``cell``; only ``run`` takes a body.

    Raises:
        UsageError: For every bad input and every ``FlowError``, as one line.
    """
    from flow_notebook.notebook.cellmagic import execute_cell

    argv = _words(line)
    if not argv or argv[0] != "run":
        raise UsageError("only %%flow run takes a cell body, e.g. %%flow run --gpu a100")
    _one_line_errors(execute_cell, session, argv[1:], cell)


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the line: {exc}") from exc


def _one_line_errors(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except HelpShown:
        return None
    except FlowError as exc:
        raise UsageError(str(exc)) from exc
