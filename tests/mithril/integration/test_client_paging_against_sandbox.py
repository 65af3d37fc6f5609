"""ApiClient paging over real HTTP: cursors across pages, every item exactly once."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sandbox

SEEDED = 25
PAGE = 10


def count_of(stats, method, route, status=200):
    return sum(
        row["count"]
        for row in stats["requests"]
        if (row["method"], row["route"], row["status"]) == (method, route, status)
    )


@pytest.fixture
def seeded(fresh_sandbox):
    """A fresh sandbox with ``SEEDED`` terminated bids (one instance each); stats reset."""
    assert fresh_sandbox.seed(SEEDED) == SEEDED
    fresh_sandbox.control("DELETE", "/stats")
    return fresh_sandbox


def test_iter_bids_yields_every_bid_exactly_once_across_pages(fresh_client, seeded):
    bids = list(fresh_client.iter_bids(seeded.project, page_size=PAGE))

    fids = [b.fid for b in bids]
    assert len(fids) == SEEDED
    assert len(set(fids)) == SEEDED
    assert {b.name for b in bids} == {f"seed-{n}" for n in range(SEEDED)}
    assert count_of(seeded.stats(), "GET", "/v2/spot/bids") == 3  # 10 + 10 + 5


def test_list_bids_pages_are_disjoint_and_follow_the_cursor(fresh_client, seeded):
    first = fresh_client.list_bids(seeded.project, limit=PAGE)
    second = fresh_client.list_bids(seeded.project, limit=PAGE, next_cursor=first.next_cursor)

    assert len(first.data) == len(second.data) == PAGE
    assert first.next_cursor and second.next_cursor and first.next_cursor != second.next_cursor
    assert not {b.fid for b in first.data} & {b.fid for b in second.data}
    # Newest first by default: the last seeded bid opens the first page.
    assert first.data[0].name == f"seed-{SEEDED - 1}"
    ascending = fresh_client.list_bids(seeded.project, limit=PAGE, sort_dir="asc")
    assert ascending.data[0].name == "seed-0"


def test_iter_bids_filters_by_status_on_every_page(fresh_client, seeded):
    terminated = list(fresh_client.iter_bids(seeded.project, status="Terminated", page_size=7))
    open_bids = list(fresh_client.iter_bids(seeded.project, status="Open", page_size=7))

    assert len({b.fid for b in terminated}) == SEEDED
    assert all(b.status == "Terminated" for b in terminated)
    assert open_bids == []


def test_iter_instances_yields_every_instance_exactly_once_across_pages(fresh_client, seeded):
    instances = list(fresh_client.iter_instances(seeded.project, page_size=PAGE))

    assert len({i.fid for i in instances}) == len(instances) == SEEDED
    assert all(i.status == "STATUS_TERMINATED" for i in instances)
    bid_fids = {b.fid for b in fresh_client.iter_bids(seeded.project, page_size=100)}
    assert {i.bid for i in instances} == bid_fids
    assert count_of(seeded.stats(), "GET", "/v2/instances") == 3
