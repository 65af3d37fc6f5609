"""``python -m flow_notebook.sandbox [--port N] [--root DIR] [--no-instances] [--seed N]``.

Prints three ``NAME=value`` lines a shell can use as they are, then serves until
Ctrl-C or SIGTERM, after which every instance is stopped and a temporary state
root is removed.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from flow_notebook.sandbox.app import create_app
from flow_notebook.sandbox.hostprep import missing_prerequisites
from flow_notebook.sandbox.instances import Launcher, SshdLauncher, VirtualLauncher, free_port
from flow_notebook.sandbox.rootfs import unusable_state_directory
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.server import make_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m flow_notebook.sandbox", description="Fake Mithril API on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--root", type=Path, help="state directory (default: a temp dir)")
    parser.add_argument(
        "--no-instances",
        action="store_true",
        help="no sshd per instance; instances run but are not reachable",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of injected faults")
    parser.add_argument(
        "--preempt-delay", type=float, default=0.5, help="seconds a preempted bid stays Preempting"
    )
    return parser.parse_args(argv)


def build_launcher(
    args: argparse.Namespace,
    root: Path,
    check: Callable[[], str | None] = missing_prerequisites,
) -> tuple[Launcher, str | None, str]:
    """Returns the launcher, why instances are unreachable (or ``None``), and their status.

    Args:
        args: The parsed command line.
        root: State directory.
        check: Returns why real instances cannot run here, or ``None``.
    """
    if args.no_instances:
        return VirtualLauncher(), "started with --no-instances", "STATUS_RUNNING"
    reason = check() or unusable_state_directory(root)
    if reason:
        print(f"sandbox: instances will not be reachable over SSH: {reason}", file=sys.stderr)
        return VirtualLauncher(), reason, "STATUS_ERROR"
    return SshdLauncher(root / "instances", hidden=(root,)), None, "STATUS_RUNNING"


def main(argv: list[str] | None = None) -> int:
    """Runs the sandbox until interrupted; returns the exit code."""
    args = parse_args(argv)
    temporary = args.root is None
    root = Path(tempfile.mkdtemp(prefix="mithril-sandbox-")) if temporary else args.root
    root.mkdir(parents=True, exist_ok=True)
    try:
        launcher, reason, status = build_launcher(args, root)
        sandbox = Sandbox(
            root,
            launcher,
            unreachable_status=status,
            reason_unreachable=reason,
            seed=args.seed,
            preempt_delay=args.preempt_delay,
        )
        port = args.port or free_port()
        server = make_server(create_app(sandbox), port)
        print(f"MITHRIL_API_URL=http://127.0.0.1:{port}")
        print(f"MITHRIL_API_KEY={sandbox.account.api_key}")
        print(f"MITHRIL_PROJECT={sandbox.account.project}", flush=True)
        # uvicorn re-raises the signal it caught after shutting down; a no-op handler
        # here lets the cleanup below run and the process exit 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        server.run()
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
