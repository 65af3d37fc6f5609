"""The API key and task secrets never show: a representative session, then a scan.

The session runs the magics (``%flow config``, ``run --secret``, ``logs``, ``status``,
``list``, ``dashboard``, errors), the setup form up to a save, the dashboard and log
viewer widgets, on the local provider and on the sandbox (real instances). A task prints
its secret, as careless code does. Then everything produced is scanned for the key and
the secret: captured cell outputs, every widget's state, exception texts, reprs, every
file under FLOW_HOME (except the 0600 config file that holds the key by design) and the
sandbox's own log files. On the sandbox the task keys of the session's tasks (read back
from their bids' startup scripts, the one place they travel) are scanned for as well, and
the user's own key must be on no instance.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import secrets
import stat
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.config import load_config
from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import TaskConfig
from flow_notebook.core.registry import get_provider
from flow_notebook.notebook.widgets.setup_form import SetupForm, SetupModel
from flow_notebook.providers.mithril.api import ApiClient
from flow_notebook.sandbox.testing import wait_for

SECRET = f"s3cr3t-{secrets.token_hex(8)}"


class Session:
    """Runs magics and keeps everything they produced, for the scan."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.texts: list[str] = []

    def magic(self, line: str) -> object:
        with capture_output() as captured:
            try:
                value = self.shell.run_line_magic("flow", line)
            except UsageError as exc:
                value = None
                self.texts.append(str(exc))
        self.texts += [captured.stdout, captured.stderr, repr(value)]
        self.texts += [str(out.data) for out in captured.outputs]
        return value

    def cell(self, line: str, body: str) -> None:
        with capture_output() as captured:
            self.shell.run_cell_magic("flow", line, body)
        self.texts += [captured.stdout, captured.stderr]
        self.texts += [str(out.data) for out in captured.outputs]


def widget_states() -> list[str]:
    # The widget module's registry of every live widget; ``Widget._active_widgets`` is
    # its deprecated alias (ipywidgets 8.1).
    from ipywidgets.widgets.widget import _instances

    instances = dict(_instances)
    return [repr(widget.get_state()) for widget in instances.values()]


def scan(
    texts: list[str],
    home: Path,
    extra_files: list[Path],
    key: str,
    printed_by: list[str],
    task_keys: list[str] = (),
) -> list[str]:
    """Returns where the key or the secret was found.

    The raw output files of the task that printed its secret (paths naming one of
    ``printed_by``: the task and its instances; its archived log and the copy made
    while it was followed) are the one exception: they hold what the task wrote, as
    written (0600, like the task's own log files).
    """
    values = [("api key", key), ("secret", SECRET), *(("task key", k) for k in task_keys)]
    found = []
    for index, text in enumerate(texts):
        for name, value in values:
            if value in text:
                found.append(f"{name} in produced text #{index}: {text[:120]!r}")
    for path in [*home.rglob("*"), *extra_files]:
        if not path.is_file() or path == home / "config.yaml":
            continue
        raw_output = path.suffix in (".log", ".followed")  # archive, copy made while followed
        if raw_output and any(part in str(path) for part in printed_by):
            continue
        data = path.read_bytes()
        for name, value in values:
            if value.encode() in data:
                found.append(f"{name} in file {path}")
    return found


def task_key_secrets(sandbox) -> list[str]:
    """Returns the task keys carried by the startup scripts of the sandbox's bids."""
    params = {"project": sandbox.project, "limit": 100}
    found = []
    for bid in sandbox.api("GET", "/v2/spot/bids", params=params).json()["data"]:
        script = bid["launch_specification"].get("startup_script") or ""
        for packed in re.findall(r"printf '%s' '([A-Za-z0-9+/=]+)' \| base64 -d \| gunzip", script):
            script += gzip.decompress(base64.b64decode(packed)).decode()
        for encoded in re.findall(
            r"printf '%s' ([A-Za-z0-9+/=]+) \| base64 -d >\S*watcher", script
        ):
            found.append(json.loads(base64.b64decode(encoded))["key_secret"])
    return found


def _typing(key: str):
    """A hidden prompt at which the user types the API key."""
    return lambda name: key if name == "api_key" else ""


def run_session(session: Session, provider, key: str, home: Path) -> list[str]:
    """Runs the session; returns the ids of the task that printed its secret and its
    instances."""
    from flow_notebook.notebook.listing import single
    from flow_notebook.notebook.widgets.dashboard import DashboardModel
    from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard
    from flow_notebook.notebook.widgets.front import log_viewer_factory

    session.magic("config")
    session.magic("config api_key")  # typed at the hidden prompt, never in the line
    session.magic("config")
    printing = session.magic(
        "run --name leaky --secret TOKEN --wait -- 'echo token=$TOKEN; echo done'"
    )
    session.cell(
        "run --secret TOKEN --wait --no-upload", "import os\nprint(len(os.environ['TOKEN']))\n"
    )
    for line in (
        f"logs {printing.task_id}", f"status {printing.task_id}", "list", "tasks",
        "dashboard --text", "status no-such-task", "run --env TOKEN= --name 'bad name' -- x",
        f"logs {printing.task_id} --follow",
    ):  # fmt: skip
        session.magic(line)
    dashboard = WidgetDashboard(DashboardModel(single(provider, "mithril")), interval=3600)
    dashboard.refresh()
    flow_session = session.shell.magics_manager.registry["FlowMagics"].session
    flow_session.positions.set(printing.task_id, 0)  # the viewer shows every line again
    viewer = log_viewer_factory(flow_session)(printing.task_id)
    wait_for(lambda: "whole log read" in viewer.status.value, 30)
    assert "done" in repr(viewer.lines.get_state())
    config = TaskConfig(command="true", secrets={"TOKEN": SECRET}, env={"A": "1"})
    session.texts += [repr(config), str(config), config.model_dump_json(), repr(provider)]
    session.texts += [repr(load_config()), str(load_config().masked()), repr(printing)]
    session.texts += widget_states()
    viewer.close()
    dashboard.close()
    return [printing.task_id, *provider.get_task(printing.task_id).instances]


@pytest.fixture
def local_provider(isolated_flow_home, monkeypatch):
    monkeypatch.setenv("TOKEN", SECRET)
    provider = get_provider("local")
    yield provider
    for task in provider.list_tasks():
        provider.cancel_task(task.task_id)
    if hasattr(provider, "close"):
        provider.close()


def test_local_session_shows_neither_the_api_key_nor_the_secret(
    local_provider, shell_magics, isolated_flow_home
):
    key = f"fkey_LOCAL{secrets.token_hex(12)}"
    session = Session(shell_magics(local_provider, secret_prompt=_typing(key)))
    printed_by = run_session(session, local_provider, key, isolated_flow_home)

    assert any("token=****" in text or "token=*" in text for text in session.texts)
    assert scan(session.texts, isolated_flow_home, [], key, printed_by) == []
    assert stat.S_IMODE((isolated_flow_home / "config.yaml").stat().st_mode) == 0o600


@pytest.mark.ssh
def test_sandbox_session_shows_neither_the_api_key_nor_the_secret(
    ssh_sandbox, providers, shell_magics, isolated_flow_home, monkeypatch
):
    monkeypatch.setenv("TOKEN", SECRET)
    for name, value in ssh_sandbox.env.items():
        monkeypatch.setenv(name, value)
    provider = providers.provider(ssh_sandbox)
    session = Session(shell_magics(provider, secret_prompt=_typing(ssh_sandbox.api_key)))
    printed_by = run_session(session, provider, ssh_sandbox.api_key, isolated_flow_home)
    form = SetupForm(SetupModel(load_config()))
    form.api_key.value = ssh_sandbox.api_key
    form.check()
    form.save()
    assert "saved in" in form.status.value and form.api_key.value == ""
    session.texts += widget_states()
    # A rejected key and an API error: their messages must not echo a key.
    wrong = f"fkey_WRONG{secrets.token_hex(10)}"
    with pytest.raises(FlowError) as rejected:
        ApiClient(wrong, base_url=ssh_sandbox.url).get_me()
    session.texts += [str(rejected.value), repr(rejected.value), repr(ApiClient(wrong))]
    assert wrong not in " ".join(session.texts[-3:])

    sandbox_logs = [
        p for p in ssh_sandbox.root.rglob("*") if p.suffix in (".log", ".stderr") and p.is_file()
    ]
    assert any("token=****" in text or "token=*" in text for text in session.texts)
    task_keys = task_key_secrets(ssh_sandbox)
    assert len(task_keys) >= 2  # the session's two tasks each had one
    found = scan(
        session.texts,
        isolated_flow_home,
        sandbox_logs,
        ssh_sandbox.api_key,
        printed_by,
        task_keys,
    )
    assert found == []
    instance_files = [p for p in (ssh_sandbox.root / "instances").rglob("*") if p.is_file()]
    assert instance_files
    assert [p for p in instance_files if ssh_sandbox.api_key.encode() in p.read_bytes()] == []
