"""The ``%%flow run`` live view in JupyterLab 4 and Notebook 7 in Chromium, judged on screen.

One Jupyter server and one browser serve the module; each front end runs its own
copy of the notebook on the local provider. On the page: the view follows the tail,
a user's scroll-up stays put while lines arrive, a failing import shows its
traceback as stderr, a tqdm bar is one line whose percentage changes, ANSI green is
green, and Cancel (after confirming) ends the task. After a kernel restart, a view
still following says its kernel is gone; saved and reopened, no view says running.
Screenshots go to ``$FLOW_BROWSER_ARTIFACTS`` (default: the test's temporary directory).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from . import jupyterlab
from .jupyterlab import WAIT_MS

CELLS = [
    "%load_ext flow_notebook",
    "%%flow run --name tail-view\nimport time\nfor i in range(200):\n"
    "    print(f'tail line {i}', flush=True)\n    time.sleep(0.05)\n",
    "%%flow run --name scroll-view\nimport time\nfor i in range(600):\n"
    "    print(f'scroll line {i}', flush=True)\n    time.sleep(0.05)\n",
    "%%flow run --name import-view\nprint('before the import', flush=True)\nimport broken\n",
    "%%flow run --name tqdm-view\nimport time\nfrom tqdm import tqdm\n"
    "for _ in tqdm(range(250), mininterval=0.05):\n    time.sleep(0.1)\n",
    "%%flow run --name colour-view\nprint('\\x1b[32mGREEN TEXT\\x1b[0m plain text')\n",
    "%%flow run --name cancel-view\nimport time\nfor i in range(600):\n"
    "    print(f'cancel line {i}', flush=True)\n    time.sleep(0.1)\n",
    # Last: its error stops "Run All Cells".
    "%%flow run --wait --name wait-view\nraise ValueError('bad value')\n",
]
# The text at a point of the page: the line of the text node under it.
_LINE_AT = """([x, y]) => {
  const range = document.caretRangeFromPoint(x, y);
  if (!range || range.startContainer.nodeType !== Node.TEXT_NODE) return null;
  const text = range.startContainer.textContent;
  const start = text.lastIndexOf('\\n', range.startOffset - 1) + 1;
  const end = text.indexOf('\\n', range.startOffset);
  return text.slice(start, end < 0 ? text.length : end);
}"""


@pytest.fixture(params=["lab", "notebook"])
def lab(request, shared_lab):
    """The module's server as JupyterLab 4, then as Notebook 7."""
    # Synced with the notebook's directory: importing it fails on the instance.
    (shared_lab.root / "broken.py").write_text("def broken(:\n    pass\n")
    yield shared_lab.front_end(request.param)
    _cancel_leftover_tasks(shared_lab.flow_home)


def test_live_views(shared_page, lab, artifacts):
    from playwright.sync_api import expect

    page = shared_page
    notebook = f"live-{lab.app}.ipynb"
    jupyterlab.write_notebook(lab.root / notebook, CELLS)
    jupyterlab.run_all_cells(page, lab, notebook)

    tail = _view(page, "tail-view")
    expect(tail).to_contain_text("tail line 120", timeout=WAIT_MS)
    assert _newest_visible(page, tail, "tail line") >= _newest_shown(tail, "tail line") - 3
    jupyterlab.save_screenshots(
        {f"{lab.app}-live_following.png": tail},
        artifacts,
        docs={"lab-live_following.png": "live_view.png"},
    )
    expect(tail).to_contain_text("tail line 199", timeout=WAIT_MS)
    expect(tail.locator(".flow-live-header")).to_contain_text("completed", timeout=WAIT_MS)
    assert _bottom_line(page, tail) == "tail line 199"

    scroll = _view(page, "scroll-view")
    expect(scroll).to_contain_text("scroll line 100", timeout=WAIT_MS)
    box = scroll.locator(".flow-live-scroll")
    box.hover()
    page.mouse.wheel(0, -600)
    time.sleep(0.5)
    before = _top_line(page, scroll)
    shown_before = _newest_shown(scroll, "scroll line")
    time.sleep(3)
    assert _newest_shown(scroll, "scroll line") > shown_before + 20, "lines kept arriving"
    assert _top_line(page, scroll) == before, "the user's scroll position stayed"
    assert _newest_visible(page, scroll, "scroll line") < _newest_shown(scroll, "scroll line")

    failed = _view(page, "import-view")
    expect(failed.locator(".flow-live-header")).to_contain_text("failed", timeout=WAIT_MS)
    # Jupyter's stderr output while live; the static form's stderr lines once ended.
    stderr = failed.locator("[data-mime-type='application/vnd.jupyter.stderr'], .flow-stderr")
    expect(stderr).to_contain_text("Traceback (most recent call last)")
    expect(stderr).to_contain_text("SyntaxError")
    expect(stderr).to_contain_text("def broken(:")
    expect(failed).to_contain_text("before the import")

    bar = _view(page, "tqdm-view")
    expect(bar).to_contain_text(re.compile(r"\b[1-9]\d?%\|"), timeout=WAIT_MS)
    first = _percentages(bar)
    time.sleep(1.5)
    second = _percentages(bar)
    assert len(first) == 1 and len(second) == 1, "one bar, rewritten in place"
    assert second[0] > first[0], "the percentage moves while it runs"
    expect(bar.locator(".flow-live-header")).to_contain_text("completed", timeout=2 * WAIT_MS)
    assert _percentages(bar) == [100]

    colour = _view(page, "colour-view")
    green = colour.get_by_text("GREEN TEXT", exact=True)
    expect(green).to_be_visible(timeout=WAIT_MS)
    red, green_part, blue = _rgb(green.evaluate("e => getComputedStyle(e).color"))
    assert green_part > red and green_part > blue, "ANSI green is drawn green"
    expect(colour).not_to_contain_text("[32m")

    app = lab.app
    jupyterlab.save_screenshots(
        {
            f"{app}-live_tail.png": tail,
            f"{app}-live_scrolled.png": scroll,
            f"{app}-live_traceback.png": failed,
            f"{app}-live_tqdm.png": bar,
            f"{app}-live_colour.png": colour,
        },
        artifacts,
        docs={"lab-live_traceback.png": "live_traceback.png"},
    )

    waited = page.locator(".jp-Cell", has_text="--name wait-view")
    error = waited.locator(".jp-OutputArea-output", has_text="TaskFailedError")
    expect(error).to_contain_text("TaskFailedError: task", timeout=WAIT_MS)
    expect(error).to_contain_text("failed (exit 1): ValueError: bad value; full log")
    assert "Traceback" not in error.inner_text() and "UsageError" not in error.inner_text()

    cancel = _view(page, "cancel-view")
    expect(cancel).to_contain_text("cancel line 5", timeout=WAIT_MS)
    cancel.get_by_role("button", name="Cancel").click()
    cancel.get_by_role("button", name="Yes, cancel it").click()
    expect(cancel.locator(".flow-live-header")).to_contain_text("cancelled", timeout=WAIT_MS)
    expect(cancel.get_by_role("button", name="Cancel")).to_be_hidden()
    cancel.screenshot(path=str(artifacts / f"{app}-live_cancelled.png"))


RESTART_CELLS = [
    "%load_ext flow_notebook",
    "%%flow run --name ended-before\nprint('done before the restart')\n",
    "%%flow run --name ends-after\nimport time\nfor i in range(12):\n"
    "    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\n",
]


def test_after_a_kernel_restart_and_reopen_no_view_says_running(shared_page, lab, artifacts):
    """A view whose kernel restarted says so; once saved and reopened none says running."""
    from playwright.sync_api import expect

    page, notebook = shared_page, f"restart-{lab.app}.ipynb"
    jupyterlab.write_notebook(lab.root / notebook, RESTART_CELLS)
    jupyterlab.run_all_cells(page, lab, notebook)
    ended = _view(page, "ended-before")
    expect(ended.locator(".flow-live-header")).to_contain_text("completed", timeout=WAIT_MS)
    going = _view(page, "ends-after")
    expect(going).to_contain_text("tick 2", timeout=WAIT_MS)
    expect(going.locator(".flow-live-header")).to_contain_text("running")

    jupyterlab.restart_kernel(page, lab)
    header = going.locator(".flow-live-header")
    gone = header.locator(".flow-live-gone")
    expect(gone).to_be_visible(timeout=WAIT_MS)
    expect(gone).to_contain_text("its kernel is gone")
    assert "running" not in header.inner_text(), header.inner_text()  # what is on screen
    expect(going.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(going).to_contain_text("tick 2")  # what it showed stays readable
    jupyterlab.save_screenshots(
        {f"{lab.app}-live_kernel_gone.png": going},
        artifacts,
        docs={"lab-live_kernel_gone.png": "live_kernel_gone.png"},
    )

    _wait_until_ended(lab.flow_home, "ends-after")
    jupyterlab.save_notebook(page, lab, notebook)
    page.reload()
    jupyterlab.open_notebook(page, lab, notebook)
    outputs = page.locator(".jp-OutputArea-output")
    expect(outputs.first).to_be_visible(timeout=WAIT_MS)
    expect(_view(page, "ended-before")).to_contain_text("done before the restart")
    shown = "\n".join(outputs.all_inner_texts())
    assert "completed" in shown and "running" not in shown, shown
    saved = json.loads((lab.root / notebook).read_text())
    plain = [
        "".join(output.get("data", {}).get("text/plain", ""))
        for cell in saved["cells"]
        for output in cell["outputs"]
    ]
    assert not [text for text in plain if "running" in text], plain
    page.screenshot(path=str(artifacts / f"{lab.app}-restart_reopened.png"), full_page=True)


def _wait_until_ended(flow_home: Path, name: str, timeout: float = 60.0) -> None:
    from flow_notebook.core.config import load_config
    from flow_notebook.providers.local import LocalProvider

    provider = LocalProvider.from_config(load_config({"FLOW_HOME": str(flow_home)}))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = [task for task in provider.list_tasks(limit=50) if task.name == name]
            if tasks and all(task.is_terminal for task in tasks):
                return
            time.sleep(0.5)
    finally:
        provider.close()
    raise AssertionError(f"task {name} did not end in {timeout:g} s")


def _view(page, name: str):
    from playwright.sync_api import Error

    view = page.locator(".flow-live", has_text=f"({name})")
    for attempt in range(3):
        try:
            view.scroll_into_view_if_needed(timeout=WAIT_MS)
            break
        except Error:  # The view was replaced by its final form meanwhile.
            if attempt == 2:
                raise
    return view


def _box_point(view, where: str) -> list[float]:
    rect = view.locator(".flow-live-scroll").bounding_box()
    y = rect["y"] + 6 if where == "top" else rect["y"] + rect["height"] - 8
    return [rect["x"] + 20, y]


def _top_line(page, view) -> str | None:
    view.scroll_into_view_if_needed()
    return page.evaluate(_LINE_AT, _box_point(view, "top"))


def _bottom_line(page, view) -> str | None:
    view.scroll_into_view_if_needed()
    return page.evaluate(_LINE_AT, _box_point(view, "bottom"))


def _newest_visible(page, view, word: str) -> int:
    line = _bottom_line(page, view) or ""
    found = re.search(rf"{word} (\d+)", line)
    assert found, f"no {word!r} line at the bottom of the view: {line!r}"
    return int(found.group(1))


def _newest_shown(view, word: str) -> int:
    text = view.locator(".flow-live-scroll").inner_text()
    return max(int(n) for n in re.findall(rf"{word} (\d+)", text))


def _percentages(view) -> list[int]:
    text = view.locator(".flow-live-scroll").inner_text()
    return [int(n) for n in re.findall(r"(\d+)%\|", text)]


def _rgb(css: str) -> tuple[int, int, int]:
    red, green, blue = (int(n) for n in re.findall(r"\d+", css)[:3])
    return red, green, blue


def _cancel_leftover_tasks(flow_home: Path) -> None:
    from flow_notebook.core.config import load_config
    from flow_notebook.providers.local import LocalProvider

    provider = LocalProvider.from_config(load_config({"FLOW_HOME": str(flow_home)}))
    try:
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    finally:
        provider.close()
