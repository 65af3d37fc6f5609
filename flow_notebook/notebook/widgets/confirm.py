"""A yes/no question under a cell, for actions that lose data or stop work."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from flow_notebook.core.errors import FlowError


class Confirm:
    """A question with an action button and a Keep button; the action runs once.

    Args:
        question: What to ask (escaped).
        action: Runs on Yes; returns the line to show afterwards.
        action_label: Text of the action button.
    """

    def __init__(
        self, question: str, action: Callable[[], object], *, action_label: str = "Yes"
    ) -> None:
        import ipywidgets as w

        self._action = action
        self.done = False
        self.prompt = w.HTML(html.escape(question))
        self.yes = w.Button(description=action_label, button_style="danger")
        self.no = w.Button(description="Keep")
        self.result = w.HTML()
        self.yes.on_click(lambda _: self.confirm())
        self.no.on_click(lambda _: self.dismiss())
        self.root = w.VBox([w.HBox([self.prompt, self.yes, self.no]), self.result])
        self.root.add_class("flow-confirm")

    def confirm(self) -> None:
        """Runs the action (once) and shows its outcome."""
        if self.done:
            return
        self.done = True
        self.yes.disabled = self.no.disabled = True
        try:
            outcome = self._action()
        except FlowError as exc:
            self.result.value = f"<span style='color:#cf222e'>{html.escape(str(exc))}</span>"
            return
        self.result.value = html.escape(str(outcome or "done"))

    def dismiss(self) -> None:
        """Leaves things as they are."""
        self.done = True
        self.yes.disabled = self.no.disabled = True
        self.result.value = "kept"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = html.unescape(self.prompt.value)
        return bundle


def ask(question: str, action: Callable[[], object], *, action_label: str = "Yes") -> Confirm:
    """Shows a ``Confirm`` in the current cell and returns it."""
    from flow_notebook.notebook.widgets.html import display

    confirm = Confirm(question, action, action_label=action_label)
    display(confirm)
    return confirm
