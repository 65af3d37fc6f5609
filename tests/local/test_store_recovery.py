"""A damaged local task store is moved aside and replaced; an unwritable one is one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from flow_notebook.core.errors import ConfigurationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.local import LocalProvider
from flow_notebook.providers.local.store import TaskRecord, TaskStore


def _record(i: int, tmp: Path) -> TaskRecord:
    return TaskRecord(task_id=f"local-{i:012x}", name=f"t{i}", task_dir=tmp, work_dir=tmp,
                      command="x" * 400)  # fmt: skip


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_a_store_that_is_not_a_database_is_moved_aside_and_restarted(tmp_path, caplog):
    directory = tmp_path / "store"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"this is not sqlite" * 100)

    store = TaskStore(directory)
    store.put(_record(1, tmp_path))

    assert store.get("local-000000000001") is not None
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("store.damaged-")]
    assert len(aside) == 1 and (aside[0] / "cache.db").exists(), "kept for the user"
    [line] = _warnings(caplog)
    assert line.startswith(f"the local task store {directory} was damaged (")
    assert "moved it to" in line and "started a new one" in line
    store.close()


def test_a_partly_corrupt_store_keeps_the_local_provider_usable(tmp_path, caplog):
    state = tmp_path / "local"
    store = TaskStore(state / "store")
    for i in range(300):
        store.put(_record(i, tmp_path))
    store.close()
    db = state / "store" / "cache.db"
    data = bytearray(db.read_bytes())
    for offset in range(4096 * 2, len(data) - 4096, 4096 * 3):
        data[offset : offset + 512] = b"\xff" * 512  # page headers of the table and index
    db.write_bytes(bytes(data))
    with pytest.raises(sqlite3.DatabaseError):  # the damage is real
        conn = sqlite3.connect(db)
        try:
            conn.execute("SELECT count(*), sum(length(value)) FROM Cache").fetchall()
        finally:
            conn.close()

    provider = LocalProvider(state)
    try:
        assert provider.list_tasks() == []
        task = provider.submit_task("cpu", TaskConfig(name="after", command="true"))
        assert [t.task_id for t in provider.list_tasks()] == [task.task_id]
    finally:
        provider.close()
    assert len(_warnings(caplog)) == 1


def test_a_read_only_store_is_one_line_naming_it(tmp_path, monkeypatch):
    store = TaskStore(tmp_path / "store")

    def readonly(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store._cache, "set", readonly)
    with pytest.raises(ConfigurationError) as caught:
        store.put(_record(1, tmp_path))
    message = str(caught.value)
    assert message.startswith(f"cannot use the local task store {tmp_path / 'store'}: ")
    assert "read-only" in message and "\n" not in message
    store.close()
