"""LogPositions: lines shown per task and stream, kept in one atomically written file."""

from __future__ import annotations

from flow_notebook.notebook.positions import LogPositions


def test_positions_start_at_zero_and_survive_a_new_store(tmp_path):
    path = tmp_path / "notebook" / "positions"
    LogPositions(path).set("t1", 7)
    LogPositions(path).set("t1", 2, log_type="stderr")
    reopened = LogPositions(path)
    assert (reopened.get("t1"), reopened.get("t1", "stderr"), reopened.get("t2")) == (7, 2, 0)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [".positions.lock", "positions"], "no temp files left"


def test_default_path_follows_flow_home(isolated_flow_home):
    store = LogPositions()
    store.set("t1", 1)
    assert (isolated_flow_home / "notebook" / "positions").exists()


def test_a_damaged_file_only_loses_the_resume_point(tmp_path):
    path = tmp_path / "positions"
    path.write_text("{not json")
    store = LogPositions(path)
    assert store.get("t1") == 0
    store.set("t1", 3)
    assert store.get("t1") == 3
    assert (tmp_path / "positions.damaged").read_text() == "{not json", "kept for the user"


def _write_many(path, worker: int, count: int) -> None:
    store = LogPositions(path)
    for i in range(count):
        store.set(f"w{worker}-t{i}", i + 1)


def test_concurrent_kernels_lose_no_write(tmp_path):
    import multiprocessing

    path = tmp_path / "positions"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, w, 60)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    store = LogPositions(path)
    missing = [(w, i) for w in range(4) for i in range(60) if store.get(f"w{w}-t{i}") != i + 1]
    assert missing == []


def test_only_the_most_recent_positions_are_kept(tmp_path, monkeypatch):
    from flow_notebook.notebook import positions

    monkeypatch.setattr(positions, "MAX_POSITIONS", 3)
    store = LogPositions(tmp_path / "positions")
    for i in range(5):
        store.set(f"t{i}", i + 1)
    store.set("t2", 9)  # used again: it becomes the newest
    assert [store.get(f"t{i}") for i in range(5)] == [0, 0, 9, 4, 5]
