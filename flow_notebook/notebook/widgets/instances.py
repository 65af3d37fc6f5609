"""The instance picker's logic: offers from the provider, price history, submitting.

``InstanceCatalog`` lists what ``find_instances`` offers (optionally one GPU type),
fetches a chosen offer's price history when the provider has ``IPriceHistory``, and
submits a command on the chosen offer through ``%flow run``'s ``submit``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import AvailableInstance, PricePoint, Task, utcnow
from flow_notebook.core.provider_interfaces import IPriceHistory, IProvider, IReservations
from flow_notebook.core.reservations import ReservationQuote, ReservationRequest
from flow_notebook.notebook.arguments import build_task_config, command_value
from flow_notebook.notebook.formatting import table
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.html import html_table, money
from flow_notebook.notebook.widgets.price_chart import price_chart_svg

HEADERS = ("INSTANCE", "GPU", "REGION", "$/HOUR", "AVAILABLE")


@dataclass(frozen=True)
class OfferRow:
    """One offer as the picker shows it.

    Attributes:
        instance_type: Display name, e.g. ``8xh100``.
        gpu: GPU count and model, e.g. ``8 x h100``; ``-`` for CPU-only.
        region: Region of the offer.
        price_per_hour: Current price per instance-hour, in dollars.
        available: Instances that can be had now.
    """

    instance_type: str
    gpu: str
    region: str
    price_per_hour: float
    available: int

    @classmethod
    def from_offer(cls, offer: AvailableInstance) -> OfferRow:
        """Builds the row of ``offer``."""
        gpu = f"{offer.gpu_count} x {offer.gpu_type}" if offer.gpu_count else "-"
        return cls(
            offer.instance_type, gpu, offer.region, offer.price_per_hour, offer.available_quantity
        )

    def cells(self) -> tuple[str, ...]:
        """Returns the row's texts in ``HEADERS`` order."""
        price = money(self.price_per_hour, per_hour=True)
        return (self.instance_type, self.gpu, self.region, price, str(self.available))

    @property
    def label(self) -> str:
        """One line for a selection list."""
        return "   ".join(self.cells())


class InstanceCatalog:
    """Offers, price history and submission for the picker.

    Args:
        provider: Returns the provider whose offers are shown.
        gpu: Only offers whose instance type or GPU model contains this text.
        limit: Most offers asked for.
        provider_name: That provider's name (``--provider``), for submitting; ``None``:
            the session's default provider.
    """

    def __init__(
        self,
        provider: Callable[[], IProvider],
        *,
        gpu: str | None = None,
        limit: int = 100,
        provider_name: str | None = None,
    ) -> None:
        self._provider = provider
        self.provider_name = provider_name
        self.gpu = (gpu or "").strip().lower() or None
        self.limit = limit
        self.rows: list[OfferRow] = []

    def refresh(self) -> list[OfferRow]:
        """Fetches the offers, cheapest first.

        Raises:
            FlowError: The provider failed.
        """
        requirements = {"gpu_type": self.gpu} if self.gpu else {}
        offers = self._provider().find_instances(requirements, limit=self.limit)
        rows = [OfferRow.from_offer(offer) for offer in offers if self._matches(offer)]
        self.rows = sorted(rows, key=lambda row: (row.price_per_hour, row.instance_type))
        return self.rows

    @property
    def has_history(self) -> bool:
        """Whether the provider can give price history."""
        return isinstance(self._provider(), IPriceHistory)

    def history(self, row: OfferRow) -> list[PricePoint] | None:
        """Returns the offer's price history, or ``None`` when the provider has none.

        Raises:
            FlowError: The provider failed.
        """
        provider = self._provider()
        if not isinstance(provider, IPriceHistory):
            return None
        return provider.get_price_history(row.instance_type, row.region)

    def reserved_quote(self, row: OfferRow, hours: float = 24) -> ReservationQuote | None:
        """Returns the quote for reserving one instance of the offer's shape for ``hours``.

        ``None`` when the provider sells no reservations.

        Raises:
            FlowError: The provider failed.
        """
        provider = self._provider()
        if not isinstance(provider, IReservations):
            return None
        start = utcnow()
        request = ReservationRequest(
            instance_type=row.instance_type,
            region=row.region,
            start=start,
            end=start + timedelta(hours=hours),
        )
        return provider.quote_reservation(request)

    def chart(self, row: OfferRow) -> str:
        """Returns the offer's price chart as SVG, or a note when there is no history."""
        points = self.history(row)
        if points is None:
            return "<i>this provider has no price history</i>"
        return price_chart_svg(points, title=f"{row.instance_type} in {row.region}")

    def submit(
        self,
        session: FlowSession,
        row: OfferRow,
        *,
        command: str,
        instances: int = 1,
        max_price: float | None = None,
    ) -> tuple[Task, str]:
        """Submits ``command`` on the offer's instance type and region.

        Returns:
            The task and the one-line receipt ``%flow run`` prints.

        Raises:
            ValidationError: No command, or a value the task configuration refuses.
            FlowError: The provider refused or failed.
        """
        from flow_notebook.notebook.commands.run import submit

        if not command.strip():
            raise ValidationError("type a command to run", field="command")
        config = build_task_config(
            {
                # Like one quoted word after --: a line with spaces runs as a shell line.
                "command": command_value([command.strip()]),
                "num_instances": instances,
                "region": row.region,
                "max_price_per_hour": max_price or None,
            }
        )
        receipt = io.StringIO()
        with contextlib.redirect_stdout(receipt):
            task = submit(session, config, gpu=row.instance_type, provider=self.provider_name)
        return task, receipt.getvalue().strip()

    def text(self) -> str:
        """Returns the offers as an aligned table, or ``no offers``."""
        return render_text(self.rows)

    def html(self) -> str:
        """Returns the offers as an escaped HTML table."""
        if not self.rows:
            return "<p><i>no offers</i></p>"
        return html_table(HEADERS, [row.cells() for row in self.rows], css_class="flow-offers")

    def _matches(self, offer: AvailableInstance) -> bool:
        if not self.gpu:
            return True
        return self.gpu in offer.instance_type.lower() or self.gpu in offer.gpu_type.lower()


def render_text(rows: Sequence[OfferRow]) -> str:
    """Returns ``rows`` as the picker's plain-text table, or ``no offers``."""
    return table([row.cells() for row in rows], HEADERS) if rows else "no offers"


def spot_vs_reserved(row: OfferRow, quote: ReservationQuote) -> str:
    """Returns one line comparing the offer's spot price with its reservation quote."""
    spot = row.price_per_hour
    reserved = quote.price_per_instance_hour
    cheaper = "reserving is cheaper" if reserved < spot else "spot is cheaper now"
    free = "" if quote.available else " (no reservable capacity now)"
    return (
        f"reserved {money(reserved, per_hour=True)} vs spot {money(spot, per_hour=True)}:"
        f" {cheaper}; {quote.hours:g} h reserved cost {money(quote.total_price)}{free}."
        f" Reserve: %flow reserve --gpu {row.instance_type} --region {row.region}"
        f" --duration {quote.hours:g}h"
    )
