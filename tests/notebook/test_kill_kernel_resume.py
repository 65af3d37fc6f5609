"""A kernel killed -9 during ``%flow run --follow``: the next attach repeats no line.

Two real ipykernels (jupyter_client) share one ``FLOW_HOME`` on the local provider.
The first follows a task printing 2,000 numbered lines and is killed with SIGKILL
midway; the second attaches to the same task. The follow records each batch's
position before drawing it, so no line the first kernel sent is sent again.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import sys
import time

import pytest

LINES = 2000
SCRIPT = (
    "import time; [print('line', i, flush=True) or time.sleep(0.004)"
    f" for i in range(1, {LINES + 1})]"
)
PLAIN_VIEWS = "get_ipython().magics_manager.registry['FlowMagics'].session.surface_factory = None"
"""Draws views as plain text (stream messages this test reads), not as widgets."""
_LINE = re.compile(r"^line (\d+)$")
_TASK = re.compile(r"^task (\S+) \(")


def _start(home: str):
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name="python3")
    env = {**os.environ, "FLOW_HOME": home, "FLOW_PROVIDER": "local"}
    manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return manager, client


def _stop(manager, client) -> None:
    client.stop_channels()
    if manager.is_alive():
        manager.shutdown_kernel(now=True)


class _Output:
    """The stdout text a kernel sent, as lines."""

    def __init__(self) -> None:
        self.text = ""

    def collect(self, client, until, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(self):
            try:
                message = client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            content = message["content"]
            if message["msg_type"] == "stream":
                self.text += content["text"]
            if message["msg_type"] == "error":
                self.text += content["evalue"] + "\n"
            if message["msg_type"] == "status" and content["execution_state"] == "idle":
                self.text += "\0idle"

    def numbers(self) -> list[int]:
        return [int(m.group(1)) for line in self.lines() if (m := _LINE.match(line))]

    def lines(self) -> list[str]:
        return self.text.replace("\0idle", "").splitlines()

    def task_id(self) -> str | None:
        return next((m.group(1) for line in self.lines() if (m := _TASK.match(line))), None)


@pytest.fixture
def kernels(isolated_flow_home):
    started = []

    def start():
        started.append(_start(str(isolated_flow_home)))
        return started[-1]

    yield start
    for manager, client in started:
        _stop(manager, client)


def test_a_kernel_killed_during_follow_leaves_no_line_to_repeat_on_attach(kernels):
    manager, client = kernels()
    first = _Output()
    command = f'%flow run --follow --name flood -- {sys.executable} -u -c "{SCRIPT}"'
    client.execute("%load_ext flow_notebook\n" + command)
    first.collect(client, lambda out: len(out.numbers()) >= 400)
    os.kill(manager.provisioner.process.pid, signal.SIGKILL)
    first.collect(client, lambda out: False, timeout=1.0)  # messages already on their way
    task_id = first.task_id()
    assert task_id and len(first.numbers()) >= 400

    _, second_client = kernels()
    second = _Output()
    second_client.execute(f"%load_ext flow_notebook\n{PLAIN_VIEWS}\n%flow attach {task_id}")
    second.collect(second_client, lambda out: LINES in out.numbers(), 60)

    shown_first, shown_second = first.numbers(), second.numbers()
    repeated = sorted(set(shown_first) & set(shown_second))
    missing = sorted(set(range(1, LINES + 1)) - set(shown_first) - set(shown_second))
    print(
        f"first kernel {len(shown_first)} lines, attach {len(shown_second)},"
        f" repeated {len(repeated)}, missing {len(missing)}"
    )
    assert shown_second, second.lines()
    assert repeated == []
    assert shown_first == sorted(shown_first) and shown_second == sorted(shown_second)
