"""%flow instances: offers as text, or the picker in a widget frontend."""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output

from .widgets.conftest import FullFakeProvider, offer


@pytest.fixture
def provider(use_provider) -> FullFakeProvider:
    provider = FullFakeProvider()
    provider.offers = [offer("8xh100", price=20.0), offer("1xa100", price=1.8)]
    use_provider(provider)
    return provider


def test_text_table_cheapest_first(provider, flow):
    lines = flow("instances")[1].splitlines()
    assert lines[0].split() == ["INSTANCE", "GPU", "REGION", "$/HOUR", "AVAILABLE"]
    assert [line.split()[0] for line in lines[1:]] == ["1xa100", "8xh100"]


def test_gpu_filter(provider, flow):
    lines = flow("instances --gpu h100")[1].splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["8xh100"]


def test_no_offers(provider, flow):
    assert flow("instances --gpu b200")[1] == "no offers\n"


def test_picker_in_a_widget_frontend(provider, ip, monkeypatch):
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    with capture_output() as captured:
        ip.run_line_magic("flow", "instances")
    bundle = captured.outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "flow-offers" in bundle["text/html"]
