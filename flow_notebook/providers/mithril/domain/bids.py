"""Spot bids: build the request, place it exactly once, list, pause and cancel.

Money is real, so a lost answer must never turn into a second bid. Every bid gets
a unique name (the task name plus a random suffix). ``ApiClient`` never retries a
POST that may have reached the server. When one fails that way (timeout, connection
lost after sending, 5xx), the server may still act on it later, so it is never sent
again: ``BidService.place`` looks the name up (``GET``) until a bid of that name
appears or ``reconcile_timeout`` passes, and then reports the ambiguity in one line
with the name. A POST that certainly never left (connection refused, circuit open)
is reported as not placed.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from flow_notebook.core.errors import (
    FlowError,
    NotFoundError,
    ProviderUnavailableError,
    TaskNotFoundError,
    TaskStateError,
)
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.api.transport import HTTPStatusError, TransportError
from flow_notebook.providers.mithril.domain.pricing import format_price

MAX_PAGE = 100
SUFFIX_CHARS = 8
_NAME_BASE_LIMIT = 54
_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")
T = TypeVar("T")


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
        instance_type: str | None = None,
        region: str | None = None,
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
        reconcile_timeout: Seconds a bid whose answer was lost is looked up by name
            before the outcome is reported as unknown (the server may act on a
            request well after the client gave up on its answer).
        reconcile_delay: Seconds between those lookups.
        sleep: Waits between lookups.
        clock: Monotonic time source of the deadline.
    """

    def __init__(
        self,
        api: BidsApi,
        project: str,
        *,
        suffix: Callable[[], str] = random_suffix,
        reconcile_timeout: float = 90.0,
        reconcile_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._project = project
        self._suffix = suffix
        self._timeout = reconcile_timeout
        self._delay = reconcile_delay
        self._sleep = sleep
        self._clock = clock

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
        """Places the bid with one POST at most; one call never leaves two bids behind.

        Args:
            request: The bid; its ``name`` must be unique (see ``unique_name``).

        Returns:
            The bid that exists under ``request.name``.

        Raises:
            ProviderUnavailableError: The POST certainly never reached the API, or it
                may have and no bid of that name appeared before ``reconcile_timeout``
                (the message names the bid; nothing was sent again).
            FlowError: Any refusal of the API (price, quota, validation ...).
        """
        try:
            return self._api.create_bid(request)
        except ProviderUnavailableError as exc:
            if not may_have_reached_the_server(exc):
                raise ProviderUnavailableError(
                    f"bid {request.name} was not placed: {exc.message}",
                    suggestion="try again shortly",
                ) from exc
            return self._reconcile(request.name, exc)

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

    def _reconcile(self, name: str, cause: FlowError) -> dto.BidModel:
        """Looks ``name`` up until found; raises the ambiguity once the deadline passed."""
        return find_placed(
            lambda: self.find_by_name(name),
            LostAnswer(
                "bid",
                name,
                cause,
                f"run %flow list: a task whose bid is {name} is this one; "
                "submit again only if none appears",
            ),
            timeout=self._timeout,
            delay=self._delay,
            sleep=self._sleep,
            clock=self._clock,
        )


@dataclass(frozen=True)
class LostAnswer:
    """A create whose answer was lost: what it was and what to tell the user.

    Attributes:
        noun: What was created (``bid``, ``reservation``).
        name: Its unique name, the key it is looked up by.
        cause: The failure of the POST.
        suggestion: What to do when it stays unknown.
    """

    noun: str
    name: str
    cause: FlowError
    suggestion: str


def find_placed(
    find: Callable[[], T | None],
    lost: LostAnswer,
    *,
    timeout: float,
    delay: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Looks up, by name, what a POST with a lost answer created, until ``timeout`` passes.

    The POST is never sent again: the server may act on it well after the client gave up.

    Raises:
        ProviderUnavailableError: Nothing of that name appeared in time (one line).
    """
    deadline = clock() + timeout
    failed: FlowError | None = None
    while True:
        try:
            found = find()
        except FlowError as exc:
            failed = exc  # The API may be down for a while: keep looking until the deadline.
        else:
            if found is not None:
                return found
        if clock() + delay > deadline:
            break
        sleep(delay)
    lookup = f"; the last lookup failed: {failed.message}" if failed else ""
    raise ProviderUnavailableError(
        f"{lost.noun} {lost.name} may or may not have been placed ({lost.cause.message});"
        f" no {lost.noun} of that name appeared within {timeout:g}s{lookup};"
        " it was not sent again",
        suggestion=lost.suggestion,
    ) from lost.cause


def may_have_reached_the_server(error: FlowError) -> bool:
    """Whether a failed POST may still take effect (sent, and no refusal was read)."""
    cause = error.__cause__
    if isinstance(cause, TransportError):
        return cause.request_sent
    return isinstance(cause, HTTPStatusError)
