"""``--pull`` values come back only signed with the kernel's key; task output is just text."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.notebook.pinned import TaskFailedError


def _hostile_cell(marker) -> str:
    """A cell that prints what an attacker could put in a scraped page or a dataset row."""
    return (
        "import base64, os, pickle\n"
        "class Payload:\n"
        "    def __reduce__(self):\n"
        f"        return (os.system, ('touch {marker}',))\n"
        "forged = base64.b64encode(pickle.dumps(Payload())).decode()\n"
        "print('::flow-pull::' + forged)\n"
        "print(f'::flow-pull::0/1:{\"0\" * 64}:{forged}')\n"
        "result = 7\n"
    )


def test_a_printed_pickle_payload_line_runs_no_code_and_is_shown(ip, kernel, tmp_path):
    marker = tmp_path / "payload-ran"
    ip.run_cell_magic("flow", "run --wait --pull result", _hostile_cell(marker))
    surface = kernel.last
    assert not marker.exists(), "nothing the task printed may be unpickled in the kernel"
    assert sum(line.startswith("::flow-pull::") for line in surface.lines) == 2
    assert ip.user_ns["result"] == 7
    assert "pulled result" in surface.summary.facts


def test_wait_pull_is_an_error_when_the_api_is_unavailable_as_the_task_ends(ip, kernel):
    provider = kernel.session.provider
    real_get_task = provider.get_task

    def flaky_get_task(task_id):
        task = real_get_task(task_id)
        if task.is_terminal:
            raise ProviderUnavailableError("the API did not answer")
        return task

    provider.get_task = flaky_get_task
    ip.user_ns.pop("value", None)
    try:
        with pytest.raises(TaskFailedError) as caught:
            ip.run_cell_magic("flow", "run --wait --pull value", "value = 3\n")
    finally:
        provider.get_task = real_get_task
    message = str(caught.value)
    assert message.startswith("not pulled (value)"), message
    assert "\n" not in message
    assert "value" not in ip.user_ns
