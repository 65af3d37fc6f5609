"""No repr() or str() of an object that holds a key or a secret shows its value.

Each case builds one object the way the package does, holding the API key, a task
secret or a private key, and the test reads both its ``repr`` and its ``str``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.api import ApiClient
from flow_notebook.providers.mithril.api.dto import CreatedSshKeyModel
from flow_notebook.providers.mithril.api.transport import (
    MockTransport,
    TransportRequest,
    TransportResponse,
)
from flow_notebook.providers.mithril.domain.script_prep import PreparedScript
from flow_notebook.providers.mithril.domain.ssh_keys import GeneratedKeyPair

API_KEY = "fkey_reprsecret_0123456789"
SECRET = "task-secret-value-42"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
HIDDEN = (API_KEY, SECRET, PRIVATE_KEY.strip(), "b3BlbnNzaC1rZXktdjEAAAA")

Builder = Callable[[Path, list[Callable[[], None]]], Any]


def _config(home: Path, provider: str = "mithril") -> FlowConfig:
    base = FlowConfig(home=home, provider=provider, project="proj", api_url="http://x.invalid")
    return base.with_overrides(api_key=API_KEY, ssh_key="~/.ssh/id_ed25519")


def _api(request: TransportRequest) -> TransportResponse:
    """Answers the project lookup the provider makes when built; nothing else."""
    if request.url.rstrip("/").endswith("/v2/projects"):
        project = {"fid": "proj_1", "name": "proj", "created_at": "2026-01-01T00:00:00Z"}
        return TransportResponse.json_body(200, [project])
    return TransportResponse.json_body(503, {"detail": "not served in this test"})


def _client(home: Path, cleanups: list[Callable[[], None]]) -> ApiClient:
    client = ApiClient(API_KEY, base_url="http://x.invalid", transport=MockTransport(_api))
    cleanups.append(client.close)
    return client


def _mithril(home: Path, cleanups: list[Callable[[], None]]) -> Any:
    from flow_notebook.providers.mithril.provider import MithrilProvider

    provider = MithrilProvider.from_config(_config(home), api=_client(home, cleanups))
    cleanups.append(provider.close)
    return provider


def _local(home: Path, cleanups: list[Callable[[], None]]) -> Any:
    from flow_notebook.providers.local import LocalProvider

    return LocalProvider.from_config(_config(home, provider="local"))


def _session(home: Path, cleanups: list[Callable[[], None]]) -> Any:
    from flow_notebook.notebook.session import FlowSession

    provider = _mithril(home, cleanups)
    session = FlowSession(lambda name: provider)
    session.known_secrets["t1"] = [SECRET]
    return session


def _magics(home: Path, cleanups: list[Callable[[], None]]) -> Any:
    from flow_notebook.notebook.magics import FlowMagics

    provider = _mithril(home, cleanups)
    magics = FlowMagics(None, lambda name: provider)
    magics.session.known_secrets["t1"] = [SECRET]
    return magics


def _pool(home: Path, cleanups: list[Callable[[], None]]) -> Any:
    from flow_notebook.providers.mithril.remote.host_keys import HostKeyStore
    from flow_notebook.providers.mithril.remote.pool import SSHConnectionPool

    key = home / "id_ed25519"
    key.write_text(PRIVATE_KEY)
    pool = SSHConnectionPool(key, HostKeyStore(home / "known_hosts"))
    cleanups.append(pool.close)
    return pool


def _setup_model(home: Path, cleanups: list[Callable[[], None]]) -> Any:
    from flow_notebook.notebook.widgets.setup_form import SetupModel

    return SetupModel(_config(home))


CASES: dict[str, Builder] = {
    "FlowConfig": lambda home, cleanups: _config(home),
    "FlowConfig.masked": lambda home, cleanups: _config(home).masked(),
    "TaskConfig": lambda home, cleanups: TaskConfig(command="true", secrets={"TOKEN": SECRET}),
    "ApiClient": _client,
    "MithrilProvider": _mithril,
    "LocalProvider": _local,
    "FlowSession": _session,
    "FlowMagics": _magics,
    "SSHConnectionPool": _pool,
    "SetupModel": _setup_model,
    "PreparedScript": lambda home, cleanups: PreparedScript(
        strategy="inline",
        startup_script=f"#!/bin/bash\nexport TOKEN={SECRET}\n",
        deferred_script=f"export KEY={API_KEY}\n",
    ),
    "CreatedSshKeyModel": lambda home, cleanups: CreatedSshKeyModel(
        fid="sshkey_1",
        name="generated",
        project="proj",
        public_key="ssh-ed25519 AAAAC3Nza",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        required=False,
        private_key=PRIVATE_KEY,
    ),
    "GeneratedKeyPair": lambda home, cleanups: GeneratedKeyPair(
        private_openssh=PRIVATE_KEY, public_openssh="ssh-ed25519 AAAAC3Nza"
    ),
}


@pytest.fixture
def cleanups() -> Iterator[list[Callable[[], None]]]:
    """Closers registered by a case, run after the test."""
    pending: list[Callable[[], None]] = []
    yield pending
    for close in reversed(pending):
        close()


@pytest.mark.parametrize("name", list(CASES))
def test_repr_and_str_never_show_a_key_or_secret(name, tmp_path, cleanups):
    holder = CASES[name](tmp_path, cleanups)
    for shown in (repr(holder), str(holder)):
        for value in HIDDEN:
            assert value not in shown, f"{name} shows a secret: {shown[:200]!r}"
