"""Syncing code to a running local task: only what changed, never the task's own files."""

from __future__ import annotations

import pytest

from flow_notebook.core.code_tree import tree_digest
from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.models import TaskConfig
from flow_notebook.core.provider_interfaces import ICodeSync

from .conftest import wait_for, wait_terminal


def _project(root):
    (root / "pkg").mkdir(parents=True)
    (root / "main.py").write_text("print('v1')\n")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / "old.py").write_text("gone soon\n")
    (root / ".flowignore").write_text("*.log\n")
    return root


def _running(provider, code):
    command = "touch made_by_task.txt; sleep 30"
    config = TaskConfig(command=command, upload_code=True, code_root=code)
    task = provider.submit_task("", config)
    work = provider.get_task(task.task_id).metadata["work_dir"]
    wait_for(lambda: (code.parent / work / "made_by_task.txt").exists() or None, timeout=10)
    return task.task_id, code.parent / work


def test_local_provider_offers_code_sync(provider):
    assert isinstance(provider, ICodeSync)


def test_sync_sends_only_changed_files_and_removes_deleted_ones(provider, tmp_path):
    code = _project(tmp_path / "proj")
    task_id, work = _running(provider, code)
    (code / "main.py").write_text("print('v2')\n")
    (code / "new.py").write_text("NEW = True\n")
    (code / "old.py").unlink()
    (code / "run.log").write_text("ignored\n")
    result = provider.sync_code(task_id, code)
    assert result["files"] == 2
    assert result["bytes"] == len("print('v2')\n") + len("NEW = True\n")
    assert result["deleted"] == 1
    assert result["files_total"] == 4
    assert result["digest"] == tree_digest(code)
    assert (work / "main.py").read_text() == "print('v2')\n"
    assert not (work / "old.py").exists()
    assert not (work / "run.log").exists()
    assert (work / "made_by_task.txt").exists(), "files the task wrote are never deleted"
    assert provider.get_task(task_id).metadata["code_digest"] == tree_digest(code)


def test_a_second_sync_without_edits_sends_nothing(provider, tmp_path):
    code = _project(tmp_path / "proj")
    task_id, _ = _running(provider, code)
    assert provider.sync_code(task_id, code)["files"] == 0
    (code / "pkg" / "util.py").write_text("X = 2\n")
    assert provider.sync_code(task_id, code)["files"] == 1
    assert provider.sync_code(task_id, code)["files"] == 0


def test_sync_to_an_ended_task_is_refused(provider, tmp_path):
    code = _project(tmp_path / "proj")
    task = provider.submit_task("", TaskConfig(command="true", upload_code=True, code_root=code))
    wait_terminal(provider, task.task_id)
    with pytest.raises(TaskStateError, match="has ended"):
        provider.sync_code(task.task_id, code)
