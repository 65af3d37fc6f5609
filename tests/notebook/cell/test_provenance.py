"""Provenance: the synced tree's digest, the git commit, and warnings about later edits."""

from __future__ import annotations

import os
import subprocess
import time

from IPython.utils.capture import capture_output

from flow_notebook.core.code_tree import tree_digest
from flow_notebook.notebook.provenance import (
    capture,
    changed_since,
    default_code_root,
    stale_warning,
)
from flow_notebook.notebook.surfaces import CellView

from .conftest import start_kernel, stop_kernel


def _git(root, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _repo(root):
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "first")
    return _git(root, "rev-parse", "HEAD")


def test_capture_records_digest_commit_and_dirty_state(project):
    head = _repo(project)
    clean = capture(project)
    assert clean.digest == tree_digest(project)
    assert (clean.git_commit, clean.git_dirty) == (head, False)
    (project / "helper.py").write_text("OFFSET = 7\n")
    dirty = capture(project)
    assert dirty.git_dirty
    assert dirty.one_line() == f"code {dirty.digest[:12]} (git {head[:7]}, uncommitted changes)"


def test_capture_outside_a_repository_has_no_commit(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    found = capture(tmp_path, git=lambda directory, args: None)
    assert found.git_commit is None
    assert found.one_line() == f"code {found.digest[:12]}"


def test_files_edited_after_the_sync_are_named_in_a_warning(project):
    synced_at = time.time() - 60
    os.utime(project / "helper.py", (synced_at - 10, synced_at - 10))
    assert changed_since(project, synced_at) == []
    assert stale_warning(project, synced_at) is None
    (project / "new.py").write_text("y = 2\n")
    assert changed_since(project, synced_at) == ["new.py"]
    assert stale_warning(project, synced_at).startswith(
        "warning: local files changed after the code was synced (new.py)"
    )


def test_default_code_root_is_the_notebook_directory_when_jupyter_names_it(tmp_path, project):
    notebook = tmp_path / "nb" / "analysis.ipynb"
    notebook.parent.mkdir()
    notebook.write_text("{}")
    assert default_code_root({"__session__": str(notebook)}, environ={}) == notebook.parent
    assert default_code_root({}, environ={"JPY_SESSION_NAME": str(notebook)}) == notebook.parent
    assert default_code_root({}, environ={}) == project


def test_cell_output_metadata_records_what_ran_and_is_updated_in_place(ip, tmp_path, project):
    head = _repo(project)
    kernel = start_kernel(ip, tmp_path / "state")
    kernel.session.surface_factory = lambda metadata, keep_kb: CellView(
        metadata["task_id"], keep_kb=keep_kb, metadata=metadata
    )
    try:
        with capture_output() as captured:
            ip.run_cell_magic("flow", "run --wait", "print('hello from the task')\n")
    finally:
        stop_kernel(kernel)
    first, last = captured.outputs[0], captured.outputs[-1]
    facts = first.metadata["flow_notebook"]
    assert facts["code_digest"] == tree_digest(project)
    assert facts["git_commit"] == head
    assert facts["git_dirty"] is False
    display_id = first.transient["display_id"]
    assert all(out.transient["display_id"] == display_id for out in captured.outputs)
    assert all(out.update for out in captured.outputs[1:])
    assert last.metadata["flow_notebook"]["status"] == "completed"
    assert last.metadata["flow_notebook"]["code_digest"] == facts["code_digest"]
    plain = last.data["text/plain"]
    assert "hello from the task" in plain
    assert f"(git {head[:7]})" in plain
    assert "<pre" in last.data["text/html"]


def test_a_warning_follows_local_edits_made_while_the_task_ran(ip, kernel, project):
    flag = project.parent / "go"
    body = f"import os, time\nwhile not os.path.exists({str(flag)!r}):\n    time.sleep(0.02)\n"
    ip.run_cell_magic("flow", "run", body)
    time.sleep(0.05)
    (project / "helper.py").write_text("OFFSET = 200\n")
    flag.write_text("")
    ip.run_line_magic("flow", "wait")
    warnings = [fact for fact in kernel.last.summary.facts if fact.startswith("warning:")]
    assert warnings == [
        "warning: local files changed after the code was synced (helper.py); "
        "the task runs the older copy"
    ]


def test_saving_the_notebook_or_its_checkpoint_is_not_a_code_change(project):
    synced_at = time.time() - 60
    os.utime(project / "helper.py", (synced_at - 10, synced_at - 10))
    (project / "analysis.ipynb").write_text("{}")
    (project / ".ipynb_checkpoints").mkdir()
    (project / ".ipynb_checkpoints" / "analysis-checkpoint.ipynb").write_text("{}")
    (project / ".ipynb_checkpoints" / "helper-checkpoint.py").write_text("x = 1\n")
    assert changed_since(project, synced_at) == []
    assert stale_warning(project, synced_at) is None
    (project / "helper.py").write_text("OFFSET = 8\n")
    assert changed_since(project, synced_at) == ["helper.py"]
