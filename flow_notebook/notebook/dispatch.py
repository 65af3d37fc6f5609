"""Routes a ``%flow`` line to its subcommand and turns every failure into one line.

This is the one place where ``FlowError`` becomes IPython's ``UsageError``, which
IPython shows as a single line without a traceback.
"""

from __future__ import annotations

import difflib
import shlex
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
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the line: {exc}") from exc
    name, rest = (argv[0], argv[1:]) if argv else ("help", [])
    module = lookup(name)
    try:
        return module.execute(session, rest)
    except HelpShown:
        return None
    except FlowError as exc:
        raise UsageError(str(exc)) from exc
