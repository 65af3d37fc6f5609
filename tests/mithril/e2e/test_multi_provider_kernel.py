"""One real ipykernel using the local provider and the Mithril sandbox side by side.

The kernel's default provider is ``local`` and its configuration lists ``mithril``
too (``FLOW_PROVIDERS``). A task runs on each; ``%flow list`` shows both with their
provider; ``%flow logs``/``status``/``cancel`` by id reach the right provider without
``--provider``, also after a kernel restart (through the notebook's task records).
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flow_notebook.sandbox.testing import SandboxHandle

pytestmark = [pytest.mark.ssh]

START = """\
%load_ext flow_notebook
cloud = %flow run --provider mithril --wait --name on-cloud -- "echo from-mithril"
here = %flow run --name on-local -- sleep 120
long = %flow run --provider mithril --name long -- sleep 120
print("IDS", cloud.task_id, here.task_id, long.task_id)
"""


class KernelSession:
    """A started kernel and its client; ``run`` executes a cell and returns its output."""

    def __init__(self, manager, client) -> None:
        self.manager = manager
        self.client = client

    def run(self, code: str, timeout: float = 120.0) -> str:
        """Executes ``code``; returns stdout plus any error, once the kernel is idle again."""
        msg_id = self.client.execute(code)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.client.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append(f"{content['ename']}: {content['evalue']}\n")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
        raise AssertionError(f"no answer in {timeout}s to {code!r}; so far: {''.join(out)!r}")


@pytest.fixture
def kernel(
    isolated_flow_home: Path, mithril_sandbox: SandboxHandle, require_ssh: None, tmp_path: Path
) -> Iterator[KernelSession]:
    from jupyter_client import KernelManager

    # The sandbox's key lives in FLOW_HOME, never in ~/.ssh.
    (isolated_flow_home / "config.yaml").write_text(f"ssh_dir: {tmp_path / 'no-ssh-dir'}\n")
    env = {
        **os.environ,
        **mithril_sandbox.env,
        "FLOW_HOME": str(isolated_flow_home),
        "FLOW_PROVIDER": "local",
        "FLOW_PROVIDERS": "mithril",
    }
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    session = KernelSession(manager, client)
    try:
        client.wait_for_ready(timeout=60)
        yield session
    finally:
        try:
            # Nothing stays billed: cancel what still runs on either provider.
            session.run(_CANCEL_LEFTOVERS, timeout=60)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


_CANCEL_LEFTOVERS = """\
%load_ext flow_notebook
from flow_notebook.core.registry import get_provider
for _name in ("local", "mithril"):
    _provider = get_provider(_name)
    for _task in _provider.list_active_tasks():
        _provider.cancel_task(_task.task_id)
    _provider.close()
"""


def test_one_kernel_lists_both_providers_and_routes_ids_to_their_own(kernel):
    started = kernel.run(START, timeout=180)
    ids = next(line for line in started.splitlines() if line.startswith("IDS ")).split()
    cloud_id, local_id, long_id = ids[1:]

    listed = kernel.run("%flow list").splitlines()
    assert listed[0].split()[:3] == ["ID", "PROVIDER", "NAME"], listed
    rows = {line.split()[0]: line.split()[1:4] for line in listed[1:]}
    assert rows[cloud_id] == ["mithril", "on-cloud", "completed"], listed
    assert rows[local_id] == ["local", "on-local", "running"], listed
    assert rows[long_id][:2] == ["mithril", "long"], listed

    assert kernel.run(f"%flow logs {cloud_id}") == "from-mithril\n"
    status = _facts(kernel.run(f"%flow status {cloud_id}"))
    assert (status["provider"], status["exit code"]) == ("mithril", "0"), status
    assert kernel.run(f"%flow cancel {local_id}") == f"task {local_id} cancelled\n"
    # Mithril may add a note first (no logs to archive from an instance not yet up).
    assert kernel.run(f"%flow cancel {long_id}").splitlines()[-1] == f"task {long_id} cancelled"
    assert _facts(kernel.run(f"%flow status {cloud_id}"))["status"] == "completed"

    kernel.manager.restart_kernel(now=True)
    kernel.client.wait_for_ready(timeout=60)
    kernel.run("%load_ext flow_notebook")
    # A new kernel knows no task: the notebook's records route each id.
    assert kernel.run(f"%flow logs {cloud_id}") == "from-mithril\n"
    again = _facts(kernel.run(f"%flow status {local_id}"))
    assert (again["provider"], again["status"]) == ("local", "cancelled"), again


def _facts(details: str) -> dict[str, str]:
    """Reads ``%flow status``'s ``label: value`` lines."""
    pairs = (line.split(":", 1) for line in details.splitlines() if ":" in line)
    return {label.strip(): value.strip() for label, value in pairs}
