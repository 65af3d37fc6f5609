"""State under FLOW_HOME recovers: damaged, unreadable or full files are one line; kernels share."""

from __future__ import annotations

import errno
import multiprocessing
import os
from datetime import datetime, timedelta, timezone

import pytest

from flow_notebook.core.config import FlowConfig, load_config, save_config
from flow_notebook.core.errors import ConfigurationError
from flow_notebook.notebook import state_file
from flow_notebook.notebook.notebook_tasks import NotebookTasks, TaskRecord


def _record(task_id: str, days_ago: float = 0.0) -> TaskRecord:
    started = datetime.now(timezone.utc) - timedelta(days=days_ago)
    return TaskRecord(
        task_id=task_id, name="t", provider="local",
        started_at=started.isoformat(timespec="seconds"),
    )  # fmt: skip


def test_invalid_utf8_in_the_config_file_is_one_line_naming_the_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_bytes(b"provider: local\napi_key: \xff\xfe\n")
    with pytest.raises(ConfigurationError) as caught:
        load_config({"FLOW_HOME": str(home)})
    message = str(caught.value)
    assert str(home / "config.yaml") in message and "not UTF-8" in message
    assert "delete the file" in message and "\n" not in message


def test_a_full_disk_is_named_as_such(tmp_path, monkeypatch):
    home = tmp_path / "home"
    config = load_config({"FLOW_HOME": str(home)})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("flow_notebook.core.config.os.fdopen", full)
    with pytest.raises(ConfigurationError, match="the disk is full") as caught:
        save_config(config, {"provider": "local"})
    assert "free space" in str(caught.value)
    assert not any(home.glob(".config.yaml*")), "no temporary file left behind"
    assert isinstance(config, FlowConfig)


def test_a_damaged_task_file_is_moved_aside_with_one_line_and_a_new_one_started(tmp_path, caplog):
    path = tmp_path / "tasks.json"
    path.write_text('{"nb": [ {"task_id": ')
    tasks = NotebookTasks(path)
    assert tasks.find("x") is None
    tasks.add("nb", _record("local-1"))
    assert tasks.find("local-1") is not None
    assert (tmp_path / "tasks.json.damaged").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{path} was damaged; moved it to {path}.damaged and started a new one"]


def test_an_unreadable_state_file_is_one_line(tmp_path):
    path = tmp_path / "tasks.json"
    path.mkdir()  # reading a directory fails with an OSError
    with pytest.raises(ConfigurationError, match=f"cannot read {path}"):
        NotebookTasks(path).find("x")


def test_records_older_than_the_configured_age_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOW_RECORD_MAX_AGE_DAYS", "30")
    tasks = NotebookTasks(tmp_path / "tasks.json")
    tasks.add("old-notebook", _record("local-old", days_ago=40))
    tasks.add("nb", _record("local-recent", days_ago=10))
    assert tasks.find("local-old") is None
    assert tasks.find("local-recent") is not None
    assert tasks.for_notebook("old-notebook") == []


def _add_many(path, worker: int, count: int) -> None:
    tasks = NotebookTasks(path)
    for i in range(count):
        tasks.add(f"nb{worker}", _record(f"local-{worker}-{i}"))


def test_concurrent_kernels_lose_no_task_record(tmp_path):
    path = tmp_path / "tasks.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_many, args=(path, w, 40)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    tasks = NotebookTasks(path)
    counts = [len(tasks.for_notebook(f"nb{w}")) for w in range(4)]
    assert counts == [40, 40, 40, 40]


def test_the_lock_file_is_private(tmp_path):
    path = tmp_path / "state" / "positions"
    with state_file.locked(path):
        pass
    assert (path.parent / ".positions.lock").stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
