"""``%flow volumes``: list, create, delete (after confirmation) and upload into volumes."""

from __future__ import annotations

import os
from pathlib import Path

from flow_notebook.core.errors import NotFoundError, ValidationError
from flow_notebook.core.models import Volume
from flow_notebook.core.provider_interfaces import IProvider
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import format_time, table
from flow_notebook.notebook.session import FlowSession

NAME = "volumes"
SUMMARY = "list volumes; --create NAME --size GB, --delete ID [--yes], --upload ID PATH"
_HEADERS = ("ID", "NAME", "SIZE", "REGION", "INTERFACE", "CREATED", "ATTACHED")


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow volumes``."""
    parser = make_parser(
        NAME,
        "List volumes. --create NAME --size GB creates one; --delete ID deletes one after "
        "asking (--yes skips the question, for scripts); --upload ID PATH copies a local "
        "file or directory into a volume with a progress bar.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--create", metavar="NAME", help="create a volume named NAME")
    action.add_argument("--delete", metavar="ID", help="delete volume ID")
    action.add_argument(
        "--upload", nargs=2, metavar=("ID", "PATH"), help="copy PATH into volume ID"
    )
    parser.add_argument("--size", type=int, metavar="GB", help="size of the new volume")
    parser.add_argument(
        "--interface", choices=("block", "file"), default="block", help="volume kind"
    )
    parser.add_argument("--to", metavar="REMOTE", help="path inside the volume for --upload")
    parser.add_argument("--yes", action="store_true", help="delete without asking")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Lists, creates, deletes or uploads, and prints one line or a table.

    Raises:
        ValidationError: ``--create`` without a positive ``--size``.
        NotFoundError: ``--delete``/``--upload`` names no volume.
    """
    args = build_parser().parse_line_args(argv)
    provider = session.provider_named(args.provider)
    if args.create:
        if not args.size or args.size < 1:
            raise ValidationError("--create needs --size GB (a whole number, 1 or more)")
        volume = provider.create_volume(args.size, args.create, args.interface)
        emit(f"created volume {volume.volume_id} ({volume.name}, {volume.size_gb} GB)")
    elif args.delete:
        _delete(provider, _find(provider, args.delete), confirmed=args.yes)
    elif args.upload:
        _upload(provider, args.upload[0], Path(args.upload[1]), args.to)
    else:
        volumes = provider.list_volumes()
        emit(volume_table(volumes) if volumes else "no volumes")


def volume_table(volumes: list[Volume]) -> str:
    """Returns the ``%flow volumes`` table."""
    rows = [
        (
            v.volume_id,
            v.name,
            f"{v.size_gb} GB",
            v.region or "-",
            v.interface,
            format_time(v.created_at),
            ", ".join(v.attached_to) or "-",
        )
        for v in volumes
    ]
    return table(rows, _HEADERS)


def _find(provider: IProvider, ident: str) -> Volume:
    for volume in provider.list_volumes(limit=1000):
        if ident in (volume.volume_id, volume.name):
            return volume
    raise NotFoundError(f"no volume {ident!r}", suggestion="see %flow volumes")


def _delete(provider: IProvider, volume: Volume, *, confirmed: bool) -> None:
    from flow_notebook.notebook.widgets.html import use_widgets

    if confirmed:
        provider.delete_volume(volume.volume_id)
        emit(f"deleted volume {volume.volume_id} ({volume.name})")
    elif use_widgets():
        from flow_notebook.notebook.widgets.confirm import ask

        ask(
            f"Delete volume {volume.volume_id} ({volume.name}, {volume.size_gb} GB)? "
            "Its data is lost.",
            lambda: _deleted_line(provider, volume),
            action_label="Delete",
        )
    else:
        emit(
            f"not deleted: volume {volume.volume_id} ({volume.name}, {volume.size_gb} GB) "
            "holds data; add --yes to delete it"
        )


def _deleted_line(provider: IProvider, volume: Volume) -> str:
    gone = provider.delete_volume(volume.volume_id)
    return f"deleted volume {volume.volume_id}" if gone else f"volume {volume.volume_id} was gone"


def _upload(provider: IProvider, ident: str, source: Path, remote: str | None) -> None:
    """Sends a file or a whole tree in one provider call (one lookup, one transfer session)."""
    from flow_notebook.notebook.widgets.progress import make_progress

    source = source.expanduser()
    if not source.exists():
        raise ValidationError(f"no local file or directory {source}")
    volume_id = ident if provider.is_volume_id(ident) else _find(provider, ident).volume_id
    files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
    total = sum(path.stat().st_size for path in files)
    progress = make_progress(f"upload to {volume_id}")
    progress(0, total)
    target = (remote or source.name).replace(os.sep, "/")
    send = provider.upload_file if source.is_file() else provider.upload_directory
    try:
        send(volume_id, source, target)
    except Exception as exc:
        progress.finish(error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    progress(total, total)
    progress.finish()
