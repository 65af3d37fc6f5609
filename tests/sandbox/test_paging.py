"""Cursor paging."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flow_notebook.sandbox.paging import (
    BadCursor,
    decode_cursor,
    encode_cursor,
    page,
    page_in_creation_order,
)


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


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_paging_in_creation_order_matches_sorting_every_record(descending, limit):
    records = [SimpleNamespace(seq=seq, keep=seq % 3 != 0) for seq in range(1, 41)]

    def pages(pager, **kwargs):
        seen, cursor = [], None
        while True:
            chunk, cursor = pager(
                records,
                seq_of=lambda r: r.seq,
                descending=descending,
                limit=limit,
                cursor=cursor,
                **kwargs,
            )
            seen.append([r.seq for r in chunk])
            if cursor is None:
                return seen

    kept = [r for r in records if r.keep]
    expected = []
    cursor = None
    while True:
        chunk, cursor = page(
            kept,
            seq_of=lambda r: r.seq,
            sort_key=lambda r: r.seq,
            descending=descending,
            limit=limit,
            cursor=cursor,
        )
        expected.append([r.seq for r in chunk])
        if cursor is None:
            break
    assert pages(page_in_creation_order, keep=lambda r: r.keep) == expected


def test_paging_in_creation_order_refuses_a_cursor_naming_a_filtered_record():
    records = [SimpleNamespace(seq=seq) for seq in range(1, 6)]
    with pytest.raises(BadCursor):
        page_in_creation_order(
            records,
            keep=lambda r: r.seq != 3,
            seq_of=lambda r: r.seq,
            descending=True,
            limit=2,
            cursor=encode_cursor(3),
        )
