"""The price chart in the dark theme (JupyterLab 4, Notebook 7): one point, readable labels."""

from __future__ import annotations

import pytest

from . import jupyterlab
from .conftest import NOTEBOOK
from .jupyterlab import WAIT_MS

CHART_CELL = """\
from datetime import datetime, timedelta, timezone
from IPython.display import HTML
from flow_notebook.core.models import PricePoint
from flow_notebook.notebook.widgets.price_chart import price_chart_svg
point = PricePoint(
    timestamp=datetime.now(timezone.utc) - timedelta(hours=2),
    price_per_hour=2.5,
    region="us-central1-a",
)
HTML(price_chart_svg([point], title="1xa100 in us-central1-a"))
"""

# The contrast of each label against the nearest opaque background behind it.
CONTRASTS = """(svg) => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let node = svg, background = null;
  while (node && !background) {
    const colour = rgb(getComputedStyle(node).backgroundColor);
    if (colour.length === 3 || (colour.length === 4 && colour[3] > 0)) background = colour;
    node = node.parentElement;
  }
  const back = lum(background || [255, 255, 255]);
  return [...svg.querySelectorAll("text")].map((t) => {
    const fore = lum(rgb(getComputedStyle(t).fill));
    return [t.textContent, (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05)];
  });
}"""


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_one_point_chart_draws_a_line_with_readable_labels_in_the_dark_theme(
    page, start_lab, artifacts, app
):
    from playwright.sync_api import expect

    lab = start_lab([CHART_CELL], theme="JupyterLab Dark", app=app)
    jupyterlab.run_all_cells(page, lab, NOTEBOOK)
    chart = page.locator("svg.flow-price-chart")
    expect(chart).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    # A flat line has a zero-height box, which Playwright calls hidden: check its
    # width and stroke, and that the point's dot is visible.
    line = chart.locator("path.flow-price-line")
    expect(chart.locator("circle")).to_be_visible()
    assert line.bounding_box()["width"] > 200  # the one price held until now
    assert line.evaluate("(p) => getComputedStyle(p).strokeWidth") == "2px"
    contrasts = chart.evaluate(CONTRASTS)
    assert len(contrasts) >= 6
    assert all(ratio >= 4.5 for _, ratio in contrasts), contrasts
    jupyterlab.save_screenshots(
        {f"{app}-price_chart_dark.png": chart},
        artifacts,
        docs={"lab-price_chart_dark.png": "price_chart_dark.png"},
    )
