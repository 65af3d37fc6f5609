from __future__ import annotations

from flow_notebook.core.code_tree import tree_digest
from flow_notebook.core.models import TaskConfig, TaskStatus

from .conftest import wait_terminal


def test_upload_copies_code_honouring_ignore_files_and_records_digest(provider, tmp_path):
    code = tmp_path / "project"
    (code / "pkg").mkdir(parents=True)
    (code / "main.py").write_text("import pkg.mod\nprint(pkg.mod.VALUE)\n")
    (code / "pkg" / "__init__.py").write_text("")
    (code / "pkg" / "mod.py").write_text("VALUE = 42\n")
    (code / ".gitignore").write_text("*.ckpt\n")
    (code / ".flowignore").write_text("data/\n")
    (code / "model.ckpt").write_text("big")
    (code / "data").mkdir()
    (code / "data" / "x.bin").write_text("big")
    task = provider.submit_task(
        "", TaskConfig(command="python3 main.py && ls -A", upload_code=True, code_root=code)
    )
    done = wait_terminal(provider, task.task_id)
    assert done.status is TaskStatus.COMPLETED
    lines = provider.get_task_logs(task.task_id).splitlines()
    assert lines[0] == "42"
    assert sorted(lines[1:]) == [".flowignore", ".gitignore", "main.py", "pkg"]
    assert done.metadata["code_digest"] == tree_digest(code)
    assert done.metadata["code_files"] == 5


def test_upload_defaults_to_the_current_directory(provider, tmp_path, monkeypatch):
    (tmp_path / "hello.txt").write_text("hi")
    monkeypatch.chdir(tmp_path)
    config = provider.prepare_task_config(TaskConfig(command="cat hello.txt", upload_code=True))
    assert config.code_root == tmp_path.resolve()
    task = provider.submit_task("", TaskConfig(command="cat hello.txt", upload_code=True))
    wait_terminal(provider, task.task_id)
    assert provider.get_task_logs(task.task_id) == "hi"


def test_upload_skips_flow_home_inside_the_code_directory(tmp_path):
    from flow_notebook.core.config import load_config, save_config
    from flow_notebook.providers.local import LocalProvider

    config = load_config({"FLOW_HOME": str(tmp_path / ".flow")})
    save_config(config, {"api_key": "fkey_private"})
    local = LocalProvider.from_config(config)
    try:
        (tmp_path / "main.py").write_text("print('ok')")
        task = local.submit_task(
            "", TaskConfig(command="find . -type f | sort", upload_code=True, code_root=tmp_path)
        )
        wait_terminal(local, task.task_id)
        assert local.get_task_logs(task.task_id) == "./main.py"
    finally:
        local.close()
