"""The task's message names the setup step its instances are in: what a cell's header shows.

On the sandbox, a task whose code is too big to travel inside the startup script
is followed from submission: while its instances boot the message says so, while
the code goes up it says ``uploading code``, and once the code is in place it is
``running`` without a message.
"""

from __future__ import annotations

import os
import time

from flow_notebook.core.models import TaskConfig, TaskStatus

FILES = 40
FILE_BYTES = 400_000  # 16 MB of incompressible code: the upload takes a while


def test_the_message_goes_from_booting_to_uploading_code_to_none(provider, tmp_path, waits):
    code = tmp_path / "code"
    code.mkdir()
    for index in range(FILES):
        (code / f"part{index:02d}.bin").write_bytes(os.urandom(FILE_BYTES))
    (code / "train.py").write_text("print('code in place')\n")
    config = TaskConfig(command="python3 train.py; sleep 60", upload_code=True, code_root=code)
    task = provider.submit_task("", config)
    try:
        assert task.metadata["code"] == "wait"
        seen: list[tuple[str, str | None]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = provider.get_task(task.task_id)
            if not seen or seen[-1] != (now.status.value, now.message):
                seen.append((now.status.value, now.message))
            if provider.get_upload_status(task.task_id)["finished"] and now.message is None:
                break
            time.sleep(0.02)
        messages = [message or "" for _, message in seen]
        assert any(m.startswith("uploading code") for m in messages), seen
        assert seen[-1] == (TaskStatus.RUNNING.value, None), seen
        uploading = next(i for i, m in enumerate(messages) if m.startswith("uploading code"))
        assert all(status != "completed" for status, _ in seen[:uploading]), seen
        print(seen)
    finally:
        provider.cancel_task(task.task_id)
