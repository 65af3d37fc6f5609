"""The local task store lists records newest first, reading only as many as are asked for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from flow_notebook.providers.local.store import TaskRecord, TaskStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _record(number: int, tmp: Path) -> TaskRecord:
    created = NOW - timedelta(minutes=number)  # higher numbers are older
    return TaskRecord(task_id=f"local-{number:012x}", name=f"t{number}", created_at=created,
                      task_dir=tmp, work_dir=tmp, command="x")  # fmt: skip


def test_newest_yields_records_newest_first_whatever_the_order_they_were_stored(tmp_path):
    store = TaskStore(tmp_path / "store")
    for number in (3, 0, 7, 1, 5):
        store.put(_record(number, tmp_path))
    assert [r.name for r in store.newest()] == ["t0", "t1", "t3", "t5", "t7"]
    store.put(_record(3, tmp_path).model_copy(update={"name": "renamed"}))  # replaced, once
    assert [r.name for r in store.newest()] == ["t0", "t1", "renamed", "t5", "t7"]
    store.close()


def test_records_stored_before_the_index_existed_are_indexed_once(tmp_path):
    import diskcache

    with diskcache.Cache(str(tmp_path / "store")) as cache:  # as an older version wrote it
        for number in (2, 0, 1):
            record = _record(number, tmp_path).model_dump(mode="json")
            cache.set(f"task:local-{number:012x}", record)
    store = TaskStore(tmp_path / "store")
    assert [r.name for r in store.newest()] == ["t0", "t1", "t2"]
    store.put(_record(-1, tmp_path))  # newer than all
    assert next(store.newest()).name == "t-1"
    store.close()


def test_listing_the_newest_reads_only_what_it_yields(tmp_path, monkeypatch):
    store = TaskStore(tmp_path / "store")
    for number in range(300):
        store.put(_record(number, tmp_path))
    reads: list[str] = []
    original = store.get
    monkeypatch.setattr(store, "get", lambda task_id: reads.append(task_id) or original(task_id))
    newest = store.newest()
    first = [next(newest).name for _ in range(5)]
    assert first == ["t0", "t1", "t2", "t3", "t4"] and len(reads) == 5
    store.close()
