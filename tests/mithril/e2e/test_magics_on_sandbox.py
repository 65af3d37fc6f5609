"""%flow sync, tunnel, instances and setup against the sandbox, as a notebook user runs them."""

from __future__ import annotations

import os
import stat
import urllib.request
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from flow_notebook.core.config import FlowConfig, load_config
from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import TaskConfig
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.widgets import front
from flow_notebook.notebook.widgets.setup_form import SetupModel
from flow_notebook.providers.mithril.provider import MithrilProvider
from flow_notebook.sandbox.instances import free_port
from flow_notebook.sandbox.testing import wait_for

from .conftest import run_flow


def test_flow_sync_sends_only_the_changed_file(ip, magics, provider, tmp_path, waits):
    code = tmp_path / "code"
    code.mkdir()
    (code / "weights.bin").write_bytes(os.urandom(100_000))  # too big to embed: rsync
    for index in range(5):
        (code / f"mod_{index}.py").write_text(f"VALUE = {index}\n")
    config = TaskConfig(command="sleep 120", upload_code=True, code_root=code)
    task = provider.submit_task("", config)
    assert waits.provisioned(provider, task.task_id)["phase"] == "ready"
    waits.status(provider, task.task_id, {"running"})

    (code / "mod_3.py").write_text("VALUE = 'changed'\n")
    out = run_flow(ip, f"sync {task.task_id} --code {code}")
    assert out.startswith("synced 1 changed files ("), out
    sent = int(out.split("(")[1].split()[0])
    assert 0 < sent < 5_000  # the delta, not the 100 kB tree
    assert f"of 6 to task {task.task_id}" in out
    remote = provider.get_remote_operations()
    assert remote.execute_command(task.task_id, "cat /workspace/mod_3.py") == "VALUE = 'changed'\n"

    again = run_flow(ip, f"sync {task.task_id} --code {code}")
    assert again.startswith("synced 0 changed files"), again


def test_flow_tunnel_reaches_a_server_on_the_instance_then_stops(ip, magics, provider, waits):
    port = free_port()
    command = f"echo tunnel-ok > hello.txt && exec python3 -m http.server {port} --bind 127.0.0.1"
    task = provider.submit_task("", TaskConfig(command=command))
    waits.status(provider, task.task_id, {"running"})

    out = run_flow(ip, f"tunnel {task.task_id} {port}")
    link = out.split()[0]
    assert link.startswith("http://127.0.0.1:") and f"forwards to port {port}" in out

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(link + "hello.txt", timeout=2) as answer:
                return answer.read().decode()
        except OSError:
            return None  # the server is still starting

    assert wait_for(fetch, timeout=20, interval=0.2) == "tunnel-ok\n"
    assert str(port) in run_flow(ip, f"tunnel --list {task.task_id}")

    assert run_flow(ip, f"tunnel --stop {task.task_id}") == (
        f"closed 1 tunnel(s) to task {task.task_id}"
    )
    assert fetch() is None
    assert run_flow(ip, f"tunnel --list {task.task_id}") == "no tunnels"


def test_flow_instances_draws_the_price_history_of_a_chosen_offer(
    ip, fresh_sandbox, monkeypatch, tmp_path
):
    for price in ("$30.00", "$31.50", "$29.00"):
        fresh_sandbox.set_price("it_5ECSoHQjLBzrp5YM", "us-central1-a", price)
    for name, value in fresh_sandbox.env.items():
        monkeypatch.setenv(name, value)
    provider = MithrilProvider.from_config(load_config())
    magics = FlowMagics(ip, provider_factory=lambda name=None: provider)
    monkeypatch.setattr(ip, "kernel", object(), raising=False)  # a widget frontend
    try:
        with capture_output():
            picker = front.show_instances(magics.session, gpu="h100")
        index = next(
            i
            for i, row in enumerate(picker.catalog.rows)
            if (row.instance_type, row.region) == ("8xh100", "us-central1-a")
        )
        picker.choose(index)
        chart = picker.chart.value
        assert chart.startswith("<svg") and "8xh100 in us-central1-a" in chart
        assert chart.count("<circle") == 4  # a dot on the opening price and the three changes
        assert ">$31.50<" in chart  # the top of the axis is the highest price of the history
    finally:
        magics.session.close()
        provider.close()


def test_setup_with_only_the_key_lists_projects_and_saves_privately(
    ip, mithril_sandbox, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("FLOW_HOME", str(home))
    config = FlowConfig(home=home, api_url=mithril_sandbox.url)
    model = SetupModel(config)

    projects = model.connect(mithril_sandbox.api_key)
    assert mithril_sandbox.project in [project_id for _, project_id in projects]
    keys = model.ssh_keys(mithril_sandbox.project)
    assert keys[0][1] == ""  # the local-key choice comes first
    path = model.save(mithril_sandbox.api_key, mithril_sandbox.project, None)

    assert path == config.config_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = load_config()
    assert saved.provider == "mithril" and saved.project == mithril_sandbox.project
    assert saved.api_key.get_secret_value() == mithril_sandbox.api_key
    monkeypatch.setenv("MITHRIL_API_URL", mithril_sandbox.url)
    magics = FlowMagics(ip)
    ip.register_magics(magics)
    try:
        shown = run_flow(ip, "config")
    finally:
        magics.session.close()
    assert mithril_sandbox.api_key not in shown and "api_key" in shown and "***" in shown


def test_setup_refuses_a_wrong_key_in_one_line(mithril_sandbox, tmp_path):
    model = SetupModel(FlowConfig(home=tmp_path / "home", api_url=mithril_sandbox.url))
    with pytest.raises(FlowError) as caught:
        model.connect("fkey_wrong")
    assert "\n" not in str(caught.value) and "fkey_wrong" not in str(caught.value)
    assert not list(Path(tmp_path).rglob("config*"))
