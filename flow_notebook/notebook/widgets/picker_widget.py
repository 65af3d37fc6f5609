"""The instance picker drawn with ipywidgets: offers, price chart, submit form.

The offers list is a ``<select>`` under a header row. Both use a monospace font and
the same padded columns, so each column lines up under its title.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.instances import (
    HEADERS,
    InstanceCatalog,
    OfferRow,
    spot_vs_reserved,
)

_NBSP = "\u00a0"
_GAP = 3
_RIGHT_ALIGNED = frozenset({3, 4})  # $/HOUR and AVAILABLE are numbers.
# The header's 3px left padding matches the select's 1px border and its options' 2px.
_STYLE = (
    "<style>.flow-instance-picker .flow-offers-select select,"
    ".flow-instance-picker .flow-offers-header{"
    "font-family:var(--jp-code-font-family,monospace);font-size:12px}"
    ".flow-instance-picker .flow-offers-header{font-weight:bold;white-space:pre;"
    "padding-left:3px;line-height:20px}</style>"
)


class InstancePicker:
    """Choosing an offer shows its price history and fills the submit form.

    Args:
        catalog: Offers and submission logic.
        session: The session tasks are submitted in.
    """

    def __init__(self, catalog: InstanceCatalog, session: FlowSession) -> None:
        import ipywidgets as w

        self.catalog = catalog
        self._session = session
        self.submitted: list[Task] = []
        self.header = w.HTML(_header_html(aligned_lines([])[0]))
        self.offers = w.Select(options=[], rows=8, layout=w.Layout(width="560px"))
        self.offers.add_class("flow-offers-select")
        self.chart = w.HTML()
        self.chosen = w.HTML("<i>choose an offer</i>")
        self.reserved = w.HTML()
        self.command = w.Text(description="command", placeholder="python train.py")
        self.instances = w.BoundedIntText(value=1, min=1, max=64, description="instances")
        self.max_price = w.BoundedFloatText(
            value=0.0, min=0.0, max=10_000.0, step=0.01, description="max $/h"
        )
        self.submit_button = w.Button(
            description="Submit", button_style="primary", icon="play", disabled=True
        )
        self.result = w.HTML()
        self.offers.observe(self._on_choose, names="value")
        self.submit_button.on_click(lambda _: self.submit())
        form = w.VBox(
            [
                self.chosen,
                self.reserved,
                self.command,
                self.instances,
                self.max_price,
                self.submit_button,
            ]
        )
        self.root = w.VBox([self.header, self.offers, w.HBox([form, self.chart]), self.result])
        self.root.add_class("flow-instance-picker")

    @property
    def row(self) -> OfferRow | None:
        """The chosen offer."""
        index = self.offers.value
        return None if index is None else self.catalog.rows[index]

    def refresh(self) -> InstancePicker:
        """Fetches the offers and lists them; a provider error is shown, not raised."""
        try:
            rows = self.catalog.refresh()
        except FlowError as exc:
            self.result.value = _error(str(exc))
            return self
        header, lines = aligned_lines(rows)
        self.header.value = _header_html(header)
        self.offers.layout.width = f"{max(560, 8 * len(header) + 40)}px"
        self.offers.options = [(line, index) for index, line in enumerate(lines)]
        if not rows:
            self.result.value = "<i>no offers match</i>"
        return self

    def choose(self, index: int) -> None:
        """Chooses the offer at ``index`` (what clicking it in the list does)."""
        self.offers.value = index

    def submit(self) -> Task | None:
        """Submits the form; shows the receipt or the one-line error."""
        row = self.row
        if row is None:
            self.result.value = _error("choose an offer first")
            return None
        try:
            task, receipt = self.catalog.submit(
                self._session,
                row,
                command=self.command.value,
                instances=self.instances.value,
                max_price=self.max_price.value,
            )
        except FlowError as exc:
            self.result.value = _error(str(exc))
            return None
        self.submitted.append(task)
        self.result.value = f"<span class='flow-submitted'>{html.escape(receipt)}</span>"
        return task

    def close(self) -> None:
        """Closes the widgets."""
        self.root.close()

    def _on_choose(self, change: dict[str, Any]) -> None:
        row = self.row
        self.submit_button.disabled = row is None
        if row is None:
            return
        self.chosen.value = (
            f"<b>{html.escape(row.instance_type)}</b> in {html.escape(row.region)} "
            f"at ${row.price_per_hour:,.2f}/h"
        )
        self.max_price.value = row.price_per_hour
        self.reserved.value = self._reserved_line(row)
        try:
            self.chart.value = self.catalog.chart(row)
        except FlowError as exc:
            self.chart.value = _error(f"no price history: {exc}")

    def _reserved_line(self, row: OfferRow) -> str:
        try:
            quote = self.catalog.reserved_quote(row)
        except FlowError as exc:
            return _error(f"no reservation quote: {exc}")
        if quote is None:
            return ""
        # The widget's 28 px line height and a break inside the command made it hard to read.
        comparison, _, command = spot_vs_reserved(row, quote).partition(" Reserve: ")
        return (
            "<div class='flow-reserved-quote' style='font-size:12px;line-height:1.4;"
            f"max-width:440px;margin:2px 0'>{html.escape(comparison)}<br>Reserve: "
            f"<code>{_unbroken_words(command)}</code></div>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.catalog.text()
        bundle["text/html"] = self.catalog.html()
        return bundle


def aligned_lines(rows: Sequence[OfferRow]) -> tuple[str, list[str]]:
    """Returns the header line and one line per offer, in columns of equal width.

    Text columns are left-aligned, numbers right-aligned. Spaces are no-break spaces
    because a ``<select>`` collapses ordinary ones.
    """
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(cells[column]) for cells in table) for column in range(len(HEADERS))]
    lines = [
        (" " * _GAP)
        .join(
            cell.rjust(width) if column in _RIGHT_ALIGNED else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        .replace(" ", _NBSP)
        for cells in table
    ]
    return lines[0], lines[1:]


def _header_html(line: str) -> str:
    return f"{_STYLE}<div class='flow-offers-header'>{html.escape(line)}</div>"


def _unbroken_words(text: str) -> str:
    """Escapes ``text`` so lines break only between words (not at ``-`` in an option)."""
    return " ".join(
        f"<span style='white-space:nowrap'>{html.escape(word)}</span>" for word in text.split()
    )


def _error(message: str) -> str:
    return f"<span style='color:#cf222e'>{html.escape(message)}</span>"
