"""The instance picker: offers, price history chart, the submit form and fallbacks."""

from __future__ import annotations

import pytest

from flow_notebook.core.models import AvailableInstance
from flow_notebook.notebook.widgets.instances import InstanceCatalog
from flow_notebook.notebook.widgets.picker_widget import InstancePicker

from .conftest import PricedFakeProvider, WidgetFakeProvider, offer


@pytest.fixture
def priced() -> PricedFakeProvider:
    provider = PricedFakeProvider()
    provider.offers = [
        offer("8xh100", price=20.0),
        offer("1xa100", price=1.8),
        offer("2xa100", price=3.5),
    ]
    return provider


def _picker(provider, session_for) -> InstancePicker:
    return InstancePicker(InstanceCatalog(lambda: provider), session_for(provider)).refresh()


def test_offers_are_listed_cheapest_first(priced):
    rows = InstanceCatalog(lambda: priced).refresh()
    assert [row.instance_type for row in rows] == ["1xa100", "2xa100", "8xh100"]
    assert rows[0].cells() == ("1xa100", "1 x a100", "us-central1-a", "$1.80/h", "4")


def test_gpu_option_keeps_only_that_gpu(priced):
    rows = InstanceCatalog(lambda: priced, gpu="H100").refresh()
    assert [row.instance_type for row in rows] == ["8xh100"]


def test_text_and_html_fallbacks(priced):
    catalog = InstanceCatalog(lambda: priced)
    catalog.refresh()
    assert catalog.text().splitlines()[0].split() == [
        "INSTANCE",
        "GPU",
        "REGION",
        "$/HOUR",
        "AVAILABLE",
    ]
    assert catalog.html().count("<tr>") == 4


def test_html_escapes_provider_text():
    provider = WidgetFakeProvider()
    provider.offers = [
        AvailableInstance(
            allocation_id="a", instance_type="<b>x</b>", region="r&d", price_per_hour=1
        )
    ]
    catalog = InstanceCatalog(lambda: provider)
    catalog.refresh()
    assert "<b>x</b>" not in catalog.html() and "&lt;b&gt;x&lt;/b&gt;" in catalog.html()
    assert "r&amp;d" in catalog.html()


def test_choosing_an_offer_fills_the_form_and_draws_its_history(priced, session_for):
    picker = _picker(priced, session_for)
    assert picker.submit_button.disabled
    picker.choose(1)
    assert picker.max_price.value == 3.5
    assert "2xa100" in picker.chosen.value
    assert not picker.submit_button.disabled
    assert picker.chart.value.startswith("<svg")
    assert priced.history_calls == [("2xa100", "us-central1-a")]
    picker.close()


def test_provider_without_history_says_so(session_for):
    provider = WidgetFakeProvider()
    provider.offers = [offer()]
    picker = _picker(provider, session_for)
    picker.choose(0)
    assert "no price history" in picker.chart.value
    picker.close()


def test_submit_runs_the_command_on_the_chosen_offer(priced, session_for):
    picker = _picker(priced, session_for)
    picker.choose(0)
    picker.command.value = "python train.py --epochs 3"
    picker.instances.value = 2
    picker.max_price.value = 2.5
    picker.submit_button.click()
    instance_type, config = priced.submitted[0]
    assert instance_type == "1xa100"
    assert config.command == "python train.py --epochs 3"
    assert (config.num_instances, config.region, config.max_price_per_hour) == (
        2,
        "us-central1-a",
        2.5,
    )
    assert "task-1" in picker.result.value and "flow-submitted" in picker.result.value
    picker.close()


def test_submit_without_a_command_shows_one_line(priced, session_for):
    picker = _picker(priced, session_for)
    picker.choose(0)
    picker.submit()
    assert "type a command to run" in picker.result.value
    assert priced.submitted == []
    picker.close()


def test_widget_bundle_has_a_table_fallback(priced, session_for):
    picker = _picker(priced, session_for)
    bundle = picker._repr_mimebundle_()
    assert "flow-offers" in bundle["text/html"]
    assert bundle["text/plain"].startswith("INSTANCE")
    picker.close()


def test_chosen_offer_and_errors_are_escaped(session_for):
    xss = "<script>alert(1)</script>"
    provider = WidgetFakeProvider()
    provider.offers = [offer(region=xss).model_copy(update={"instance_type": xss})]
    picker = _picker(provider, session_for)
    picker.choose(0)
    picker.submit()
    shown = [picker.chosen.value, picker.chart.value, picker.result.value, picker.header.value]
    assert all("<script>" not in value for value in shown)
    assert picker.chosen.value.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    picker.close()
