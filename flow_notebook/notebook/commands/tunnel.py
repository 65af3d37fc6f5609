"""``%flow tunnel TASK PORT``: forward a local port to a service on a task's instance.

Uses the provider's tunnel manager (``ISSHTunnels``). A tunnel closes when its task
ends, on ``%flow tunnel --stop TASK [PORT]``, or when the extension unloads. Local
tasks need no tunnel: their ports already are on this machine.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from flow_notebook.core.errors import FlowError, TaskStateError
from flow_notebook.core.models import Tunnel
from flow_notebook.core.provider_interfaces import IProvider, ISSHTunnels, ITunnelManager
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser, ranged
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import table
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.poller import Poller

NAME = "tunnel"
SUMMARY = "forward a local port to a port on a task's instance; --stop TASK closes it"


_port = ranged(int, "port number", 1, 65_535)


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow tunnel``."""
    parser = make_parser(
        NAME,
        "Forward a port on 127.0.0.1 to PORT on the task's first instance and print the "
        "local link. The tunnel closes when the task ends or with --stop.",
    )
    parser.add_argument("task", metavar="TASK", nargs="?", help="task id")
    parser.add_argument("port", metavar="PORT", type=_port, nargs="?", help="port on the instance")
    parser.add_argument("--local-port", type=_port, metavar="N", help="local port (default: free)")
    parser.add_argument("--stop", action="store_true", help="close TASK's tunnels (or PORT's)")
    parser.add_argument("--list", action="store_true", help="list the open tunnels")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Opens, closes or lists tunnels and prints one line (or a table).

    Raises:
        UsageError: TASK or PORT missing.
        TaskStateError: The provider cannot forward ports, or the task is not running.
    """
    args = build_parser().parse_line_args(argv)
    provider = _provider(session, args.task, args.provider)
    if args.list:
        tunnels = _manager(provider).list_tunnels(args.task)
        emit(_tunnel_table(tunnels) if tunnels else "no tunnels")
        return
    if not args.task:
        raise UsageError("%flow tunnel: give TASK and PORT, e.g. %flow tunnel task-1 8888")
    if args.stop:
        _stop(provider, args.task, args.port)
        return
    if args.port is None:
        raise UsageError("%flow tunnel: give the PORT on the instance, e.g. 8888")
    task = provider.get_task(args.task)
    local = provider.get_capabilities().runs_on_this_machine
    if local and not isinstance(provider, ISSHTunnels):
        emit(
            f"task {task.task_id} runs on this machine: port {args.port} is already local, "
            f"at http://127.0.0.1:{args.port}/"
        )
        return
    manager = _manager(provider)
    tunnel = manager.open_tunnel(task.task_id, args.port, args.local_port)
    _watch(session, provider, manager, tunnel)
    emit(
        f"{tunnel.url} forwards to port {tunnel.remote_port} of task {task.task_id}; "
        f"%flow tunnel --stop {task.task_id} closes it"
    )


def _provider(session: FlowSession, task_id: str | None, name: str | None) -> IProvider:
    """Returns the task's provider, or with no task the named (or default) one."""
    if task_id:
        return session.provider_of(task_id, name)
    return session.provider_named(name)


def _manager(provider: IProvider) -> ITunnelManager:
    if not isinstance(provider, ISSHTunnels):
        name = getattr(provider, "name", None) or type(provider).__name__
        raise TaskStateError(f"provider {name} cannot forward ports")
    manager: ITunnelManager = provider.get_ssh_tunnel_manager()
    return manager


def _stop(provider: IProvider, task_id: str, port: int | None) -> None:
    manager = _manager(provider)
    tunnels = [t for t in manager.list_tunnels(task_id) if port in (None, t.remote_port)]
    for tunnel in tunnels:
        manager.close_tunnel(tunnel.tunnel_id)
    what = f"port {port} of task {task_id}" if port else f"task {task_id}"
    emit(f"closed {len(tunnels)} tunnel(s) to {what}" if tunnels else f"no tunnel to {what}")


def _watch(
    session: FlowSession, provider: IProvider, manager: ITunnelManager, tunnel: Tunnel
) -> Poller:
    """Closes the tunnel when its task ends; stops watching once it is closed."""

    def tick() -> bool:
        open_ids = {t.tunnel_id for t in manager.list_tunnels(tunnel.task_id)}
        if tunnel.tunnel_id not in open_ids:
            return False
        try:
            ended = provider.get_task(tunnel.task_id).is_terminal
        except FlowError:
            return True
        if ended:
            manager.close_tunnel(tunnel.tunnel_id)
        return not ended

    poller = Poller(tick, session.timing.poll_interval, name="flow-tunnel-watch")

    def close() -> None:
        poller.stop()
        manager.close_tunnel(tunnel.tunnel_id)

    session.on_close(close)
    poller.start()
    return poller


def _tunnel_table(tunnels: list[Any]) -> str:
    rows = [(t.tunnel_id, t.task_id, str(t.remote_port), t.url) for t in tunnels]
    return table(rows, ("ID", "TASK", "REMOTE PORT", "LOCAL"))
