"""Cursor paging."""

from __future__ import annotations

import pytest

from flow_notebook.sandbox.paging import BadCursor, decode_cursor, encode_cursor, page


def test_pages_cover_every_record_once_in_order():
    records = list(range(1, 26))
    seen, cursor = [], None
    while True:
        chunk, cursor = page(
            records,
            seq_of=lambda r: r,
            sort_key=lambda r: r,
            descending=True,
            limit=10,
            cursor=cursor,
        )
        seen += chunk
        if cursor is None:
            break
    assert seen == sorted(records, reverse=True)


def test_cursor_survives_records_added_meanwhile():
    records = list(range(1, 11))
    first, cursor = page(
        records, seq_of=lambda r: r, sort_key=lambda r: r, descending=False, limit=5, cursor=None
    )
    records.append(11)
    second, _ = page(
        records, seq_of=lambda r: r, sort_key=lambda r: r, descending=False, limit=5, cursor=cursor
    )
    assert second == [6, 7, 8, 9, 10]


def test_cursor_round_trips_and_garbage_is_refused():
    assert decode_cursor(encode_cursor(42)) == 42
    with pytest.raises(BadCursor):
        decode_cursor("not-a-cursor")
