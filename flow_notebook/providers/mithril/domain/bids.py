"""Spot bids: build the request, place it exactly once, list, pause and cancel.

Money is real, so a lost answer must never turn into a second bid. Every bid gets
a unique name (the task name plus a random suffix). ``ApiClient`` never retries a
POST; when one fails without a readable answer (connection lost, timeout, 5xx),
``BidService.place`` looks the name up (``GET``, retried by the client) a few
times before concluding anything. Found: that bid is the result. Definitively
absent: the request is sent once more, at most. If the lookup itself fails, the
outcome is unknown and the error says so instead of guessing.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from flow_notebook.core.errors import (
    FlowError,
    NotFoundError,
    ProviderUnavailableError,
    TaskNotFoundError,
    TaskStateError,
)
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.domain.pricing import format_price

MAX_PAGE = 100
SUFFIX_CHARS = 8
_NAME_BASE_LIMIT = 54
_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")


class BidsApi(Protocol):
    """The part of ``ApiClient`` that handles bids."""

    def create_bid(
        self, request: dto.CreateBidRequest, *, idempotent: bool = False
    ) -> dto.BidModel:
        """Places a bid (never retried)."""
        ...

    def list_bids(
        self,
        project: str | None = None,
        *,
        status: dto.BidStatus | None = None,
        name: str | None = None,
        limit: int | None = None,
        next_cursor: str | None = None,
        sort_by: dto.BidSortBy | None = None,
        sort_dir: dto.SortDirection | None = None,
    ) -> dto.GetBidsResponse:
        """Returns one page of bids."""
        ...

    def get_bid(self, bid_fid: str) -> dto.BidModel:
        """Returns one bid; retried on network errors and 5xx.

        Raises:
            NotFoundError: No bid has this id.
        """
        ...

    def update_bid(self, bid_fid: str, request: dto.UpdateBidRequest) -> dto.BidModel:
        """Sets the fields given in ``request`` and returns the updated bid.

        A ``PATCH`` that sets a state, so repeating it is harmless and it is retried.

        Raises:
            NotFoundError: No bid has this id.
            TaskStateError: The bid's state does not allow the change (HTTP 409).
        """
        ...

    def cancel_bid(self, bid_fid: str) -> None:
        """Terminates a bid and its instances (a ``DELETE``, retried).

        Raises:
            NotFoundError: No bid has this id.
        """
        ...


def random_suffix() -> str:
    """Returns 8 random lowercase hex characters."""
    return secrets.token_hex(SUFFIX_CHARS // 2)


class BidService:
    """Places, reads, lists, pauses and cancels a project's bids.

    Args:
        api: The bid endpoints.
        project: Project id.
        suffix: Makes the random part of bid names (tests pass a fixed one).
        reconcile_attempts: Name lookups after a lost answer before it counts as absent.
        reconcile_delay: Seconds between those lookups (the server may still be
            writing the bid when the answer was lost).
        sleep: Waits between lookups.
    """

    def __init__(
        self,
        api: BidsApi,
        project: str,
        *,
        suffix: Callable[[], str] = random_suffix,
        reconcile_attempts: int = 4,
        reconcile_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if reconcile_attempts < 1:
            raise ValueError("reconcile_attempts must be at least 1")
        self._api = api
        self._project = project
        self._suffix = suffix
        self._attempts = reconcile_attempts
        self._delay = reconcile_delay
        self._sleep = sleep

    @property
    def project(self) -> str:
        """The project id bids are placed in."""
        return self._project

    def unique_name(self, task_name: str) -> str:
        """Returns ``<task name>-<random suffix>``, the bid's dedupe key."""
        base = _UNSAFE.sub("-", task_name).strip("-")[:_NAME_BASE_LIMIT] or "flow-task"
        return f"{base}-{self._suffix()}"

    def build_request(
        self,
        *,
        name: str,
        region: str,
        instance_type_fid: str,
        limit_price: float,
        quantity: int,
        startup_script: str,
        ssh_key_ids: Sequence[str] = (),
        volume_ids: Sequence[str] = (),
    ) -> dto.CreateBidRequest:
        """Returns the ``CreateBidRequest`` for a task (see the arguments' names)."""
        return dto.CreateBidRequest(
            project=self._project,
            region=region,
            instance_type=instance_type_fid,
            limit_price=format_price(limit_price),
            instance_quantity=quantity,
            name=name,
            launch_specification=dto.LaunchSpecificationModel(
                volumes=list(volume_ids),
                ssh_keys=list(ssh_key_ids),
                startup_script=startup_script,
            ),
        )

    def place(self, request: dto.CreateBidRequest) -> dto.BidModel:
        """Places the bid; one call never leaves two bids behind.

        Args:
            request: The bid; its ``name`` must be unique (see ``unique_name``).

        Returns:
            The bid that exists under ``request.name``.

        Raises:
            ProviderUnavailableError: The API failed and whether the bid exists could
                not be established, or both sends were lost without a trace.
            FlowError: Any refusal of the API (price, quota, validation ...).
        """
        for attempt in (1, 2):
            try:
                return self._api.create_bid(request)
            except ProviderUnavailableError as exc:
                found = self._reconcile(request.name, exc)
                if found is not None:
                    return found
                if attempt == 2:
                    raise ProviderUnavailableError(
                        f"bid {request.name} could not be placed: {exc.message}",
                        suggestion="try again shortly",
                    ) from exc
        raise AssertionError("unreachable")

    def find_by_name(self, name: str) -> dto.BidModel | None:
        """Returns the project's bid named ``name``, or ``None``."""
        page = self._api.list_bids(self._project, name=name, limit=MAX_PAGE)
        matches = [bid for bid in page.data if bid.name == name]
        return matches[0] if matches else None

    def get(self, bid_fid: str) -> dto.BidModel:
        """Returns a bid.

        Raises:
            TaskNotFoundError: No bid has this id.
        """
        try:
            return self._api.get_bid(bid_fid)
        except NotFoundError as exc:
            raise TaskNotFoundError(f"no Mithril task {bid_fid}") from exc

    def list(self, limit: int, status: dto.BidStatus | None = None) -> list[dto.BidModel]:
        """Returns up to ``limit`` bids, newest first, following page cursors.

        Args:
            limit: Most bids to return.
            status: Only bids of this status.
        """
        found: list[dto.BidModel] = []
        cursor: str | None = None
        while len(found) < limit:
            page = self._api.list_bids(
                self._project,
                status=status,
                limit=min(MAX_PAGE, limit - len(found)),
                next_cursor=cursor,
                sort_by="created_at",
                sort_dir="desc",
            )
            found.extend(page.data)
            cursor = page.next_cursor
            if not cursor or not page.data:
                break
        return found[:limit]

    def cancel(self, bid_fid: str) -> bool:
        """Terminates a bid; ``False`` when it had already ended. Idempotent.

        Raises:
            TaskNotFoundError: No bid has this id.
        """
        if self.get(bid_fid).status == "Terminated":
            return False
        self._api.cancel_bid(bid_fid)
        return True

    def set_paused(self, bid_fid: str, paused: bool) -> bool:
        """Pauses or resumes a bid; ``False`` when it already was in that state.

        Raises:
            TaskNotFoundError: No bid has this id.
            TaskStateError: The bid has ended.
        """
        bid = self.get(bid_fid)
        if bid.status == "Terminated":
            raise TaskStateError(f"task {bid_fid} has ended; it cannot be paused or resumed")
        if (bid.status == "Paused") == paused:
            return False
        self._api.update_bid(bid_fid, dto.UpdateBidRequest(paused=paused))
        return True

    def _reconcile(self, name: str, cause: FlowError) -> dto.BidModel | None:
        """Looks ``name`` up until found or ``reconcile_attempts`` lookups said absent."""
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._delay)
            try:
                found = self.find_by_name(name)
            except FlowError as exc:
                raise ProviderUnavailableError(
                    f"bid {name} may or may not have been placed ({cause.message}) and the"
                    f" lookup failed: {exc.message}",
                    suggestion="run %flow list before submitting again",
                ) from exc
            if found is not None:
                return found
        return None
