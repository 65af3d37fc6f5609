"""Task keys: one expiring API key per task, for the on-instance watcher only.

``mint`` creates the key just before the bid is placed (``POST /v2/api-keys``,
named ``flow-task:<bid name>``) and returns the ``TaskWatch`` the startup script
carries; the secret exists only in that object and in the script, never in a
record, log line or ``Task``. The key expires just past the task's deadline
(``max_run`` plus an allowance for the bid to be allocated) or, without a
deadline, after ``max_lifetime``. The provider keeps only the key's id.

The watcher revokes the key when the task ends; the provider also revokes it
(``settle``) whenever it sees a finished task whose key is still active, and
``clean`` revokes leftovers at the provider's first submit: keys of ended or
vanished bids, done keys of revoked task keys, and expired keys. ``settle``
also reads the exit code the watcher left in its done key's name, so a task
whose instances are already gone still shows ``completed`` or ``failed``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from flow_notebook.core.errors import FlowError, NotFoundError, TaskNotFoundError
from flow_notebook.core.models import TaskConfig, utcnow
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.domain.records import TaskRecords
from flow_notebook.providers.mithril.runtime.watch_section import TaskWatch
from flow_notebook.providers.mithril.runtime.watcher import DONE_PREFIX

logger = logging.getLogger(__name__)

TASK_PREFIX = "flow-task:"
DEFAULT_MAX_LIFETIME = timedelta(days=7)
ALLOCATION_ALLOWANCE = timedelta(hours=6)
"""Time a bid may wait for capacity and boot before its run-time limit starts counting."""
EXPIRY_MARGIN = timedelta(minutes=15)
ORPHAN_AGE = timedelta(minutes=30)
"""A task key with no bid of its name is an orphan only once older than this."""
LIST_CACHE_SECONDS = 2.0
MAX_LOOKUPS = 5
"""Most bid lookups of one ``clean`` (the newest keys; older ones wait for a later start)."""


class ApiKeysApi(Protocol):
    """The API calls task keys need (``ApiClient`` fits)."""

    def list_api_keys(self) -> list[dto.ApiKeyModel]:
        """Lists the caller's keys."""
        ...

    def create_api_key(self, request: dto.CreateApiKeyRequest) -> dto.CreateApiKeyResponse:
        """Creates a key."""
        ...

    def revoke_api_key(self, key_fid: str) -> None:
        """Revokes a key."""
        ...


class TaskKeys:
    """Mints, settles and cleans task keys (see the module docstring).

    Args:
        api: API-key calls.
        records: Local task records (they keep the key id, never the secret).
        api_url: API base URL as instances reach it.
        project: Project fid of the tasks.
        bid_status: Returns the status of the bid with a given name, ``None`` when none.
        max_lifetime: Longest life of a key.
        clock: Current time.
    """

    def __init__(
        self,
        api: ApiKeysApi,
        records: TaskRecords,
        *,
        api_url: str,
        project: Callable[[], str],
        bid_status: Callable[[str], str | None],
        max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._api = api
        self._records = records
        self._api_url = api_url
        self._project = project
        self._bid_status = bid_status
        self._max_lifetime = max_lifetime
        self._clock = clock
        self._listed: tuple[float, list[dto.ApiKeyModel]] | None = None
        self._lock = threading.Lock()
        self._cleaned = False

    def mint(self, config: TaskConfig, bid_name: str, limit_price: float) -> TaskWatch:
        """Creates the task key of a bid about to be placed; returns the watcher's settings.

        Args:
            config: The task (run-time limit, cost limit, keep-alive, instances).
            bid_name: The bid's unique name.
            limit_price: Limit price per instance-hour, for ``max_cost``.

        Raises:
            FlowError: The API refused the key.
        """
        if not self._cleaned:
            # The provider's first task: a good moment to drop what earlier runs left.
            self._cleaned = True
            self._clean_quietly()
        max_run = run_limit_seconds(config, limit_price)
        lifetime = self._max_lifetime
        if max_run is not None:
            lifetime = min(lifetime, timedelta(seconds=max_run) + ALLOCATION_ALLOWANCE)
        expires = self._clock() + lifetime + EXPIRY_MARGIN
        request = dto.CreateApiKeyRequest(name=f"{TASK_PREFIX}{bid_name}", expires_at=expires)
        created = self._api.create_api_key(request)
        return TaskWatch(
            api_url=self._api_url,
            project=self._project(),
            bid_name=bid_name,
            key_fid=created.fid,
            key_secret=created.secret,
            key_expires_at=created.expires_at.isoformat(),
            max_run_seconds=max_run,
            keep_alive=config.keep_alive,
        )

    def remember(self, task_id: str, watch: TaskWatch) -> None:
        """Keeps the key's id (not its secret) in the task's record."""
        self._records.update(task_id, task_key=watch.key_fid)

    def revoke(self, key_fid: str) -> None:
        """Revokes a key; an unknown key counts as revoked. Failures are logged only."""
        try:
            self._api.revoke_api_key(key_fid)
        except NotFoundError:
            pass
        except FlowError as exc:
            logger.warning("could not revoke task key %s: %s", key_fid, exc)

    def exit_code(self, task_id: str) -> int | None:
        """Returns the exit code the task's watchers recorded in done keys, if any.

        The first non-zero code of a rank wins, as on the instances.
        """
        key_fid = self._records.get(task_id).get("task_key")
        if not isinstance(key_fid, str):
            return None
        # A cached listing may predate the watcher's record of the end. The task is
        # settled right after this read, so the fresh listing is paid once per task.
        code = self._code_of(key_fid)
        return code if code is not None else self._code_of(key_fid, fresh=True)

    def exit_code_by_bid_name(self, bid_name: str) -> int | None:
        """Returns the exit code from the done keys of the task key named after the bid.

        For a task started from another ``FLOW_HOME`` or machine by the same user: no
        local record names its key, but the key's name does (revoked keys are listed).
        """
        name = f"{TASK_PREFIX}{bid_name}"
        key = next((key for key in self._keys() if key.name == name), None)
        return self._code_of(key.fid) if key is not None else None

    def _code_of(self, key_fid: str, *, fresh: bool = False) -> int | None:
        codes = [code for _, code in _done_entries(self._keys(fresh=fresh), key_fid)]
        if not codes:
            return None
        return next((code for code in codes if code != 0), 0)

    def settle(self, task_id: str) -> None:
        """Revokes the key (and done keys) of a task that has ended, once."""
        record = self._records.get(task_id)
        key_fid = record.get("task_key")
        if not isinstance(key_fid, str) or record.get("task_key_settled"):
            return
        now = self._clock()
        for key in self._keys():
            if _active(key, now) and (key.fid == key_fid or _done_of(key.name) == key_fid):
                self.revoke(key.fid)
        self._records.update(task_id, task_key_settled=True)
        self._listed = None

    def clean(self) -> int:
        """Revokes expired keys, keys of ended or vanished bids and their done keys.

        Returns:
            How many keys were revoked.
        """
        keys = self._api.list_api_keys()
        now = self._clock()
        ended: set[str] = set()
        candidates = [k for k in keys if k.name.startswith(TASK_PREFIX)]
        # Bounded: each live key costs a bid lookup; the rest waits for the next start.
        for key in candidates[-MAX_LOOKUPS:]:
            if self._ended(key, now):
                ended.add(key.fid)
        revoked = 0
        for key in keys:
            ours = key.name.startswith(TASK_PREFIX) or key.name.startswith(DONE_PREFIX)
            if key.deactivated_at is not None or not ours:
                continue
            if key.fid in ended or _done_of(key.name) in ended or key.expires_at <= now:
                self.revoke(key.fid)
                revoked += 1
        return revoked

    def _clean_quietly(self) -> None:
        try:
            count = self.clean()
        except FlowError as exc:
            logger.warning("could not clean task keys: %s", exc)
            return
        if count:
            logger.info("revoked %d leftover task keys", count)

    def _ended(self, key: dto.ApiKeyModel, now: datetime) -> bool:
        if key.deactivated_at is not None:
            return True
        if key.expires_at <= now:
            return True
        try:
            status = self._bid_status(key.name[len(TASK_PREFIX) :])
        except (FlowError, TaskNotFoundError) as exc:
            logger.debug("bid of key %s unknown: %s", key.fid, exc)
            return False
        if status is None:
            # Minted moments before its bid was placed, or the bid never was.
            return now - key.created_at > ORPHAN_AGE
        return status == "Terminated"

    def _keys(self, *, fresh: bool = False) -> list[dto.ApiKeyModel]:
        with self._lock:
            now = time.monotonic()
            listed = self._listed
            if fresh or listed is None or now - listed[0] > LIST_CACHE_SECONDS:
                listed = self._listed = (now, self._api.list_api_keys())
            return listed[1]


def run_limit_seconds(config: TaskConfig, limit_price: float) -> float | None:
    """Returns the task's on-instance limit: the run-time limit or what ``max_cost`` buys.

    The cost limit is turned into time at the limit price, the most the task can be
    charged per hour, so it holds whatever the spot price does.
    """
    limits = []
    if config.max_run_time_hours:
        limits.append(config.max_run_time_hours * 3600)
    if config.max_cost and limit_price > 0:
        limits.append(config.max_cost / (limit_price * config.num_instances) * 3600)
    return min(limits) if limits else None


def _done_of(name: str) -> str | None:
    if not name.startswith(DONE_PREFIX):
        return None
    return name[len(DONE_PREFIX) :].split(":")[0]


def _done_entries(keys: list[dto.ApiKeyModel], key_fid: str) -> list[tuple[str, int]]:
    entries: dict[str, int] = {}
    for key in keys:
        if _done_of(key.name) != key_fid:
            continue
        parts = key.name[len(DONE_PREFIX) :].split(":")
        if len(parts) == 3 and parts[2].lstrip("-").isdigit():
            entries[parts[1]] = int(parts[2])
    return sorted(entries.items())


def _active(key: dto.ApiKeyModel, now: datetime) -> bool:
    return key.deactivated_at is None and key.expires_at > now
