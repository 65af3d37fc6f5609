"""Reservations in a real browser on the Mithril sandbox: picker quote and reservations panel.

The notebook lists the 8xH100 offers in the picker, reserves one instance for two days
with ``--yes`` (as ``notebooks/06`` does) and shows ``%flow reservations``. The test
chooses the offer and checks the reservation quote beside its spot price, then checks
the panel's row, its timeline bar (visible, wider than zero) and that **Extend 1 day**
then **Extend** moves the shown end by a day. With ``FLOW_UPDATE_SCREENSHOTS=1`` the
panel becomes ``docs/img/reservations_panel.png``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from . import jupyterlab
from .conftest import NOTEBOOK
from .jupyterlab import WAIT_MS

pytestmark = [pytest.mark.ssh]

GPU, REGION = "8xh100", "us-central2-a"
CELLS = [
    "%load_ext flow_notebook",
    "%flow instances --gpu h100",
    f"%flow reserve --gpu {GPU} --instances 1 --region {REGION} --start now --duration 2d --yes",
    "%flow reservations",
]


@pytest.fixture
def lab(fresh_sandbox, require_ssh, start_lab, isolated_flow_home, tmp_path):
    # The kernel's provider looks for SSH keys here, not in ~/.ssh, and so generates one.
    (isolated_flow_home / "config.yaml").write_text(f"ssh_dir: {tmp_path / 'no-ssh'}\n")
    return start_lab(CELLS, {**fresh_sandbox.env, "FLOW_PROVIDER": "mithril"})


def shown_end(text: str) -> datetime:
    """Returns the window's end in a row's text (``start → end UTC``)."""
    end = text.split(" → ", 1)[1].split(" UTC", 1)[0]
    return datetime.strptime(end, "%Y-%m-%d %H:%M")


def test_reservation_quote_in_picker_and_reservations_panel(page, lab, artifacts):
    from playwright.sync_api import expect

    jupyterlab.run_all_cells(page, lab, NOTEBOOK)
    picker = page.locator(".flow-instance-picker")
    options = picker.locator("select option")
    expect(options.first).to_be_attached(timeout=WAIT_MS)
    labels = options.all_inner_texts()
    ours = next(i for i, text in enumerate(labels) if text.startswith(GPU) and REGION in text)
    picker.locator("select").select_option(index=ours)
    chosen = picker.get_by_text(f"{GPU} in {REGION} at $")
    expect(chosen).to_be_visible(timeout=WAIT_MS)
    spot = chosen.inner_text().rsplit(" at ", 1)[1]  # "$19.20/h"
    quote = picker.locator(".flow-reserved-quote")
    expect(quote).to_be_visible(timeout=WAIT_MS)
    expect(quote).to_contain_text(f"vs spot {spot}")
    expect(quote).to_contain_text("reserved $")
    expect(quote).to_contain_text(f"%flow reserve --gpu {GPU} --region {REGION}")

    panel = page.locator(".flow-reservations")
    row = panel.locator(".flow-reservation-row").first
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row).to_contain_text(f"1 x {GPU}")
    expect(row).to_contain_text("active")
    bar = row.locator(".flow-res-bar")
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    facts = row.locator(".flow-res-facts")
    before = shown_end(facts.inner_text())
    jupyterlab.save_screenshots(
        {"reservations_panel.png": panel},
        artifacts,
        docs={"reservations_panel.png": "reservations_panel.png"},
    )
    page.locator(".flow-instance-picker").screenshot(
        path=str(artifacts / "reservation_quote_picker.png"), style=jupyterlab.SCREENSHOT_STYLE
    )

    row.get_by_role("button", name="Extend 1 day").click()
    question = panel.locator(".flow-confirm")
    expect(question).to_contain_text("Extend ", timeout=WAIT_MS)
    panel.screenshot(path=str(artifacts / "reservations_extend_question.png"))
    question.get_by_role("button", name="Extend", exact=True).click()
    new_row = panel.locator(".flow-reservation-row").first
    expect(new_row.locator(".flow-res-facts")).not_to_contain_text(
        before.strftime("%Y-%m-%d %H:%M") + " UTC", timeout=WAIT_MS
    )
    assert shown_end(new_row.locator(".flow-res-facts").inner_text()) == before + timedelta(days=1)
    panel.screenshot(path=str(artifacts / "reservations_extended.png"))
