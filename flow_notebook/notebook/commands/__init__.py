"""The ``%flow`` subcommands, one module each, routed by name.

Each module defines ``NAME``, ``SUMMARY`` (one line for ``%flow help``),
``build_parser()`` and ``execute(session, argv)``; ``execute`` returns the value the
magic gives back to the cell (``%flow run`` returns the ``Task``) and raises only
``FlowError`` or IPython's ``UsageError``.
"""

from __future__ import annotations

from types import ModuleType

from flow_notebook.notebook.commands import (
    attach,
    cancel,
    config,
    dashboard,
    help,
    instances,
    logs,
    pause,
    reservation,
    reservations,
    reserve,
    resume,
    run,
    setup,
    ssh,
    status,
    sync,
    tasks,
    tunnel,
    use,
    volumes,
    wait,
)
from flow_notebook.notebook.commands import list as list_

COMMANDS: dict[str, ModuleType] = {
    module.NAME: module for module in (run, status, list_, logs, cancel, use, help)
}
# The panels and the instance/account commands.
COMMANDS.update(
    (module.NAME, module)
    for module in (dashboard, instances, volumes, ssh, tunnel, pause, resume, config, setup)
)
# Following cell runs again, code sync, this notebook's tasks, waiting.
COMMANDS.update((module.NAME, module) for module in (attach, tasks, sync, wait))
# Reserved capacity.
COMMANDS.update((module.NAME, module) for module in (reserve, reservations, reservation))
