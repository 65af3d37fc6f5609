"""Runs the example notebooks under nbval with their own FLOW_HOME, never the user's."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Points FLOW_HOME at a fresh directory before any notebook kernel starts."""
    if not _HOME:
        _HOME.append(tempfile.mkdtemp(prefix="flow_home_nb_"))
        os.environ["FLOW_HOME"] = _HOME[0]
        os.environ.pop("FLOW_PROVIDER", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Removes the notebooks' FLOW_HOME."""
    while _HOME:
        shutil.rmtree(_HOME.pop(), ignore_errors=True)
