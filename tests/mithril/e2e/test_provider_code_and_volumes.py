"""Code upload by rsync (then only the delta) and volumes shared across tasks, on the sandbox."""

from __future__ import annotations

import os

from flow_notebook.core.models import TaskConfig, TaskStatus, VolumeSpec


def test_code_goes_by_rsync_and_a_resync_sends_only_the_change(provider, tmp_path, waits):
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "weights.bin").write_bytes(os.urandom(200_000))
    (code / "train.py").write_text("print('version 1')\n")
    config = TaskConfig(command="python3 train.py; sleep 120", upload_code=True, code_root=code)
    task = provider.submit_task("", config)
    assert task.metadata["code"] == "wait"  # too big to embed in the startup script
    status = waits.provisioned(provider, task.task_id)
    assert status["phase"] == "ready", status
    [first] = status["upload"]
    assert first["strategy"] == "rsync" and first["bytes_sent"] > 150_000
    waits.status(provider, task.task_id, {"running"})
    remote = provider.get_remote_operations()
    assert remote.execute_command(task.task_id, "cat /workspace/train.py") == "print('version 1')\n"

    (code / "train.py").write_text("print('version 2')\n")
    second = provider.sync_code(task.task_id, code)
    assert second["strategy"] == "rsync" and second["files"] == 1
    assert second["bytes"] < 5_000 and second["files_total"] == 2 and second["deleted"] == 0
    assert [report["instance"] for report in second["instances"]] == [
        i.instance_id for i in provider.get_task_instances(task.task_id)
    ]
    assert remote.execute_command(task.task_id, "cat /workspace/train.py") == "print('version 2')\n"
    assert provider.stop_task(task.task_id) is True


def test_small_code_travels_inside_the_startup_script(provider, tmp_path, waits):
    (tmp_path / "hello.py").write_text("print('hello from code')\n")
    config = TaskConfig(command="python3 hello.py", upload_code=True, code_root=tmp_path)
    task = provider.submit_task("", config)
    assert task.metadata["code"] == "archive"
    assert waits.ended(provider, task.task_id).status is TaskStatus.COMPLETED
    assert provider.get_task_logs(task.task_id) == "hello from code"


def test_a_volume_written_by_one_task_is_read_by_the_next(provider, waits):
    volume = provider.create_volume(1, name="e2e-shared", interface="file")
    spec = VolumeSpec(volume_id=volume.volume_id, mount_path="/data")
    try:
        writer = provider.submit_task(
            "", TaskConfig(command="echo kept > /data/note", volumes=[spec])
        )
        assert waits.ended(provider, writer.task_id).status is TaskStatus.COMPLETED
        reader = provider.submit_task("", TaskConfig(command="cat /data/note", volumes=[spec]))
        assert waits.ended(provider, reader.task_id).status is TaskStatus.COMPLETED
        assert provider.get_task_logs(reader.task_id) == "kept"
    finally:
        assert provider.delete_volume(volume.volume_id) is True
