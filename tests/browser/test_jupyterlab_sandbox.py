"""The panels in a real browser on the Mithril sandbox: GPU offers, price chart, a GPU task.

The sandbox's A100 price in one region is changed a few times first, so its history
has several points. JupyterLab (and so its kernel) gets the sandbox's variables and
``FLOW_PROVIDER=mithril``. The notebook lists the A100 offers in the picker, runs a
task on an A100 and shows the dashboard; the test checks the offers, the chart, the
task going to ``running``, its log lines, and Cancel. With ``FLOW_UPDATE_SCREENSHOTS=1``
the dashboard and the picker become ``docs/img/dashboard.png`` and
``docs/img/instance_picker.png``.
"""

from __future__ import annotations

import time

import pytest

from flow_notebook.sandbox.testing import A100, REGION

from . import jupyterlab
from .conftest import NOTEBOOK
from .jupyterlab import WAIT_MS

pytestmark = [pytest.mark.ssh]

PRICES = ("$2.20", "$1.70", "$2.05", "$1.60", "$1.85", "$1.45")
PRICE_SPACING = 0.1  # seconds between changes, so the chart's points are spread out
TASK_COMMAND = (
    "python3 -u -c \"import time; [print('epoch', i, 'loss', round(1 / (i + 1), 3), "
    'flush=True) or time.sleep(0.2) for i in range(600)]"'
)
CELLS = [
    "%load_ext flow_notebook",
    "%flow instances --gpu a100",
    f"task = %flow run --gpu a100 --name gpu-demo -- {TASK_COMMAND}",
    "%flow dashboard --interval 0.5",
]


@pytest.fixture
def sandbox(fresh_sandbox, require_ssh):
    for price in PRICES:
        time.sleep(PRICE_SPACING)
        fresh_sandbox.set_price(A100, REGION, price)
    return fresh_sandbox


@pytest.fixture
def lab(sandbox, start_lab, isolated_flow_home, tmp_path):
    # The kernel's provider looks for SSH keys here, not in ~/.ssh, and so generates one.
    (isolated_flow_home / "config.yaml").write_text(f"ssh_dir: {tmp_path / 'no-ssh'}\n")
    return start_lab(CELLS, {**sandbox.env, "FLOW_PROVIDER": "mithril"})


def test_gpu_offers_price_chart_and_gpu_task_in_jupyterlab(page, lab, artifacts):
    from playwright.sync_api import expect

    jupyterlab.run_all_cells(page, lab, NOTEBOOK)
    picker = page.locator(".flow-instance-picker")
    expect(picker).to_be_visible(timeout=WAIT_MS)
    expect(picker.locator(".flow-offers-header")).to_contain_text("REGION")
    options = picker.locator("select option")
    expect(options.first).to_be_attached(timeout=WAIT_MS)
    assert options.count() >= 6  # A100 types of the catalogue in several regions
    expect(picker.locator("select")).to_contain_text("8xa100")
    expect(picker.locator("select")).to_contain_text("eu-central1-a")
    labels = options.all_inner_texts()
    ours = next(i for i, text in enumerate(labels) if text.startswith("1xa100") and REGION in text)
    assert "$1.45/h" in labels[ours]  # the last of the prices set above

    picker.locator("select").select_option(index=ours)
    chart = picker.locator("svg.flow-price-chart")
    expect(chart).to_be_visible(timeout=WAIT_MS)
    expect(chart).to_contain_text(f"1xa100 in {REGION}")
    assert chart.locator("circle").count() >= len(PRICES)  # a dot on every change
    expect(picker.locator("input[type=number]").last).to_have_value("1.45")

    dashboard = page.locator(".flow-dashboard")
    row = dashboard.locator(".flow-task-row", has_text="gpu-demo")
    expect(row).to_contain_text("running", timeout=WAIT_MS)
    expect(row).to_contain_text("1xa100")
    row.get_by_role("button", name="Logs").click()
    expect(dashboard.locator(".flow-log-viewer")).to_contain_text("epoch 3", timeout=WAIT_MS)
    jupyterlab.save_screenshots(
        {"sandbox_dashboard.png": dashboard, "sandbox_instance_picker.png": picker},
        artifacts,
        docs={
            "sandbox_dashboard.png": "dashboard.png",
            "sandbox_instance_picker.png": "instance_picker.png",
        },
    )

    row.get_by_role("button", name="Cancel").click()
    dashboard.get_by_role("button", name="Yes, cancel it").click()
    expect(row).to_contain_text("cancelled", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts / "sandbox_notebook.png"), full_page=True)
