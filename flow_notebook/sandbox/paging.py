"""Cursor paging of the list endpoints, and the project check of every lookup by fid.

A cursor names the last record of the previous page (by its creation number), so a
page does not shift when records are added meanwhile. Cursors are opaque strings.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from flow_notebook.sandbox.errors import InvalidField, NotFound

T = TypeVar("T")
R = TypeVar("R", bound="Record")
OwnedT = TypeVar("OwnedT", bound="Owned")

DEFAULT_LIMIT = 100


class BadCursor(ValueError):
    """A ``next_cursor`` value this sandbox did not hand out."""


def encode_cursor(seq: int) -> str:
    """Returns the opaque cursor for the record numbered ``seq``."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Returns the record number inside ``cursor``.

    Raises:
        BadCursor: When ``cursor`` was not made by ``encode_cursor``.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "seq":
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor(cursor) from exc


def page(
    records: Sequence[T],
    *,
    seq_of: Callable[[T], int],
    sort_key: Callable[[T], Any],
    descending: bool,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """Returns one page of ``records`` and the cursor of the next page (``None`` at the end).

    Raises:
        BadCursor: When ``cursor`` is malformed or names no record of ``records``.
    """
    ordered = sorted(records, key=lambda r: (sort_key(r), seq_of(r)), reverse=descending)
    start = 0
    if cursor:
        last = decode_cursor(cursor)
        positions = {seq_of(r): i for i, r in enumerate(ordered)}
        if last not in positions:
            raise BadCursor(cursor)
        start = positions[last] + 1
    size = limit or DEFAULT_LIMIT
    chunk = list(ordered[start : start + size])
    more = start + size < len(ordered)
    return chunk, (encode_cursor(seq_of(chunk[-1])) if more and chunk else None)


def page_in_creation_order(
    records: Sequence[T],
    *,
    keep: Callable[[T], bool],
    seq_of: Callable[[T], int],
    descending: bool,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """Like ``page`` sorted by creation, for ``records`` already in creation order.

    Walks from the newest (or oldest) record and stops once a page is full, so the
    first pages cost the page size, not the number of records: listing stays as fast
    with 10,000 bids as with 100.

    Raises:
        BadCursor: When ``cursor`` is malformed or names no record that ``keep`` accepts.
    """
    last = decode_cursor(cursor) if cursor else None
    size = limit or DEFAULT_LIMIT
    ordered = reversed(records) if descending else iter(records)
    seen_cursor = last is None
    chunk: list[T] = []
    for record in ordered:
        if not seen_cursor:
            seen_cursor = seq_of(record) == last and keep(record)
            continue
        if not keep(record):
            continue
        if len(chunk) == size:
            return chunk, encode_cursor(seq_of(chunk[-1]))
        chunk.append(record)
    if not seen_cursor:
        raise BadCursor(cursor)
    return chunk, None


class Owned(Protocol):
    """A stored record that a project owns."""

    @property
    def project(self) -> str:
        """Fid of the owning project."""
        ...


class Record(Owned, Protocol):
    """A stored record that a project owns and that has a creation number."""

    @property
    def seq(self) -> int:
        """Creation number."""
        ...


def owned(records: Mapping[str, OwnedT], fid: str, projects: Sequence[str], what: str) -> OwnedT:
    """Returns record ``fid`` if one of ``projects`` owns it.

    Raises:
        NotFound: Otherwise (``what`` names the kind in the message).
    """
    record = records.get(fid)
    if record is None or record.project not in projects:
        raise NotFound(f"{what} {fid} not found")
    return record


def query_page(
    records: Sequence[R], *, sort_key: Callable[[R], Any], query: Mapping[str, Any]
) -> tuple[list[R], str | None]:
    """``page`` with the order, size and cursor of a GET's ``query``.

    Raises:
        InvalidField: A cursor this sandbox did not hand out.
    """
    try:
        return page(
            records,
            seq_of=lambda r: r.seq,
            sort_key=sort_key,
            descending=query.get("sort_dir") != "asc",
            limit=query.get("limit"),
            cursor=query.get("next_cursor"),
        )
    except BadCursor as exc:
        raise InvalidField(("query", "next_cursor"), "Unknown cursor") from exc


def query_page_in_creation_order(
    records: Sequence[R], *, keep: Callable[[R], bool], query: Mapping[str, Any]
) -> tuple[list[R], str | None]:
    """``page_in_creation_order`` with the order, size and cursor of a GET's ``query``.

    Raises:
        InvalidField: A cursor this sandbox did not hand out.
    """
    try:
        return page_in_creation_order(
            records,
            keep=keep,
            seq_of=lambda r: r.seq,
            descending=query.get("sort_dir") != "asc",
            limit=query.get("limit"),
            cursor=query.get("next_cursor"),
        )
    except BadCursor as exc:
        raise InvalidField(("query", "next_cursor"), "Unknown cursor") from exc
