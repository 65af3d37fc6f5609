"""%flow setup: the form in a widget frontend, a pointer to the alternatives otherwise."""

from __future__ import annotations

from IPython.utils.capture import capture_output

from .widgets.conftest import FullFakeProvider


def test_without_widgets_says_how_to_configure(use_provider, flow):
    use_provider(FullFakeProvider())
    out = flow("setup")[1]
    assert "needs a widget frontend" in out and "%flow config" in out


def test_with_widgets_shows_the_form(use_provider, ip, monkeypatch):
    use_provider(FullFakeProvider())
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    with capture_output() as captured:
        ip.run_line_magic("flow", "setup")
    bundle = captured.outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("setup form")
