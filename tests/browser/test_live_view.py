"""The ``%%flow run`` live view in JupyterLab in Chromium, judged by what is on screen.

Runs cells on the local provider and looks at the page: the view follows the tail,
a user's scroll-up stays put while lines arrive, a failing import shows its
traceback as stderr, a tqdm bar is one line whose percentage changes, ANSI green is
green, and Cancel (after confirming) ends the task. Screenshots go to
``$FLOW_BROWSER_ARTIFACTS`` (default: the test's temporary directory).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from . import jupyterlab
from .conftest import NOTEBOOK
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


@pytest.fixture
def lab(start_lab, isolated_flow_home):
    lab = start_lab(CELLS)
    # Synced with the notebook's directory: importing it fails on the instance.
    (lab.root / "broken.py").write_text("def broken(:\n    pass\n")
    yield lab
    _cancel_leftover_tasks(isolated_flow_home)


def test_live_views_in_jupyterlab(page, lab, artifacts):
    from playwright.sync_api import expect

    jupyterlab.run_all_cells(page, lab, NOTEBOOK)

    tail = _view(page, "tail-view")
    expect(tail).to_contain_text("tail line 120", timeout=WAIT_MS)
    assert _newest_visible(page, tail, "tail line") >= _newest_shown(tail, "tail line") - 3
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
    stderr = failed.locator("[data-mime-type='application/vnd.jupyter.stderr']")
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

    jupyterlab.save_screenshots(
        {
            "live_tail.png": tail,
            "live_scrolled.png": scroll,
            "live_traceback.png": failed,
            "live_tqdm.png": bar,
            "live_colour.png": colour,
        },
        artifacts,
        docs={"live_tail.png": "live_view.png", "live_traceback.png": "live_traceback.png"},
    )

    cancel = _view(page, "cancel-view")
    expect(cancel).to_contain_text("cancel line 5", timeout=WAIT_MS)
    cancel.get_by_role("button", name="Cancel").click()
    cancel.get_by_role("button", name="Yes, cancel it").click()
    expect(cancel.locator(".flow-live-header")).to_contain_text("cancelled", timeout=WAIT_MS)
    expect(cancel.get_by_role("button", name="Cancel")).to_be_hidden()
    cancel.screenshot(path=str(artifacts / "live_cancelled.png"))


def _view(page, name: str):
    view = page.locator(".flow-live", has_text=f"({name})")
    view.scroll_into_view_if_needed(timeout=WAIT_MS)
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
