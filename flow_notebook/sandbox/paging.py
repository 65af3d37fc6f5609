"""Cursor paging shared by ``GET /v2/spot/bids`` and ``GET /v2/instances``.

A cursor names the last record of the previous page (by its creation number), so a
page does not shift when records are added meanwhile. Cursors are opaque strings.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

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
