"""Shared test setup: every test gets its own FLOW_HOME, so no test sees another's state."""

from __future__ import annotations

import pytest

pytest_plugins = ["flow_notebook.sandbox.testing", "flow_notebook.providers.slurm.testing"]


@pytest.fixture(autouse=True)
def isolated_flow_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Points FLOW_HOME at a fresh directory and clears provider selection variables."""
    home = tmp_path_factory.mktemp("flow_home")
    monkeypatch.setenv("FLOW_HOME", str(home))
    for name in (
        "FLOW_PROVIDER",
        "FLOW_PROVIDERS",
        "MITHRIL_API_KEY",
        "MITHRIL_PROJECT",
        "MITHRIL_API_URL",
        "MITHRIL_SSH_KEY",
        "MITHRIL_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    return home
