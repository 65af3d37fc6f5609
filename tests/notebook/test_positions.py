"""LogPositions: lines shown per task and stream, kept in one atomically written file."""

from __future__ import annotations

from flow_notebook.notebook.positions import LogPositions


def test_positions_start_at_zero_and_survive_a_new_store(tmp_path):
    path = tmp_path / "notebook" / "positions"
    LogPositions(path).set("t1", 7)
    LogPositions(path).set("t1", 2, log_type="stderr")
    reopened = LogPositions(path)
    assert (reopened.get("t1"), reopened.get("t1", "stderr"), reopened.get("t2")) == (7, 2, 0)
    assert [p.name for p in path.parent.iterdir()] == ["positions"], "no temp files left"


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
