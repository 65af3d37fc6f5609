"""The confirmation widget: the action runs once, only on Yes."""

from __future__ import annotations

from flow_notebook.core.errors import NotFoundError
from flow_notebook.notebook.widgets.confirm import Confirm


def test_yes_runs_the_action_once():
    calls = []
    confirm = Confirm("Delete <vol>?", lambda: calls.append(1) or "deleted", action_label="Delete")
    assert "&lt;vol&gt;" in confirm.prompt.value
    confirm.yes.click()
    confirm.yes.click()
    assert calls == [1]
    assert confirm.result.value == "deleted"
    assert confirm.yes.disabled and confirm.no.disabled


def test_keep_does_nothing():
    calls = []
    confirm = Confirm("Delete?", lambda: calls.append(1))
    confirm.no.click()
    confirm.confirm()
    assert calls == []
    assert confirm.result.value == "kept"


def test_a_failing_action_shows_one_line():
    def fail():
        raise NotFoundError("no volume 'x'")

    confirm = Confirm("Delete?", fail)
    confirm.confirm()
    assert "no volume &#x27;x&#x27;" in confirm.result.value
