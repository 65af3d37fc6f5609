"""Browser test fixtures: Chromium through Playwright, JupyterLab, the artifacts directory.

Without ``/usr/bin/chromium`` the tests fail, unless ``FLOW_ALLOW_NO_BROWSER=1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import jupyterlab

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
NOTEBOOK = "panels.ipynb"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium (Playwright's own browsers are never downloaded)."""
    if not CHROMIUM.exists():
        if os.environ.get("FLOW_ALLOW_NO_BROWSER") == "1":
            pytest.skip("no /usr/bin/chromium and FLOW_ALLOW_NO_BROWSER=1")
        pytest.fail(
            "/usr/bin/chromium is missing: install it with 'apt-get install -y chromium' "
            "(or set FLOW_ALLOW_NO_BROWSER=1 to skip this test)"
        )
    return CHROMIUM


@pytest.fixture
def page(chromium_path: Path) -> Iterator[Any]:
    """A 1400x1000 page in headless Chromium; the browser is closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_FLAGS
        )
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    """One headless Chromium for a whole test module (each test opens its own page)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shared_page(browser: Any) -> Iterator[Any]:
    """A 1400x1000 page of the module's browser; closed after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jupyterlab.JupyterLab]:
    """One Jupyter server for a whole test module, serving both front ends.

    JupyterLab 4 opens notebooks at ``lab/tree``, Notebook 7 at ``notebooks`` of the
    same server: ``shared_lab.front_end("notebook")`` gives the URLs of the second.
    Its kernels use the local provider and a FLOW_HOME of the module
    (``shared_lab.flow_home``). Tests write their own notebooks into ``shared_lab.root``.
    """
    base = tmp_path_factory.mktemp("shared_lab")
    root, flow_home = base / "work", base / "flow_home"
    root.mkdir()
    flow_home.mkdir()
    lab = jupyterlab.start(root, base / "jupyter", flow_home)
    try:
        yield lab
    finally:
        jupyterlab.stop(lab)


@pytest.fixture
def start_lab(
    tmp_path: Path, isolated_flow_home: Path
) -> Iterator[Callable[..., jupyterlab.JupyterLab]]:
    """Starts JupyterLab serving ``panels.ipynb`` made of the given cells; stops it after.

    Call it as ``start_lab(cells, env, app, theme)``: ``env`` goes to the server and
    its kernels; ``app`` is ``lab`` (JupyterLab) or ``notebook`` (Notebook 7);
    ``theme`` names a theme such as ``"JupyterLab Dark"``.
    """
    started: list[jupyterlab.JupyterLab] = []

    def start(
        cells: list[str],
        env: dict[str, str] | None = None,
        app: str = "lab",
        theme: str | None = None,
    ) -> jupyterlab.JupyterLab:
        root = tmp_path / "work"
        root.mkdir()
        jupyterlab.write_notebook(root / NOTEBOOK, cells)
        state = tmp_path / "jupyter"
        started.append(jupyterlab.start(root, state, isolated_flow_home, env, app, theme))
        return started[-1]

    yield start
    for lab in started:
        jupyterlab.stop(lab)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$FLOW_BROWSER_ARTIFACTS`` or the test's temporary directory."""
    path = Path(os.environ.get("FLOW_BROWSER_ARTIFACTS") or tmp_path / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
