"""Boots and stops the instances of bids in the background, tracking their status.

Status goes ``STATUS_NEW`` -> ``STATUS_STARTING`` -> ``STATUS_RUNNING`` (with
``ssh_destination``), or ``STATUS_ERROR`` when sshd does not come up. A generation
number per instance lets a stop that races a start win: the start notices and
undoes itself. Starts and stops of one instance run one at a time, so a quick
pause and resume cannot boot it twice and lose track of the first sshd.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flow_notebook.sandbox.instances import Launcher, LaunchError, LaunchSpec
from flow_notebook.sandbox.state import Store, utcnow

log = logging.getLogger(__name__)

MAX_PARALLEL_BOOTS = 8
SHUTDOWN_SECONDS = 1.0
"""A terminated instance's processes run this much longer, as a real VM's do while it
shuts down: a program on it that just cancelled its own bid can still send its last
requests (the on-instance watcher revokes its task key)."""


class InstanceRunner:
    """Runs launcher calls off the request threads.

    Args:
        store: The records whose instance statuses this updates.
        launcher: Starts and stops the instance processes.
        status_when_unreachable: Status an instance gets when the launcher cannot make
            it reachable (``STATUS_RUNNING`` for deliberate HTTP-only mode,
            ``STATUS_ERROR`` when prerequisites are missing).
    """

    def __init__(
        self, store: Store, launcher: Launcher, status_when_unreachable: str = "STATUS_RUNNING"
    ) -> None:
        self._store = store
        self._launcher = launcher
        self._unreachable_status = status_when_unreachable
        self._generation: dict[str, int] = {}
        self._last_boot: dict[str, int] = {}
        self._fid_locks: dict[str, threading.Lock] = {}
        self._fid_locks_guard = threading.Lock()
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_BOOTS, thread_name_prefix="sandbox-boot")

    def boot(
        self, fid: str, spec_factory: Callable[[], LaunchSpec], status: str = "STATUS_NEW"
    ) -> None:
        """Starts instance ``fid`` in the background (caller holds ``store.lock``).

        ``status`` is the instance's status until the boot begins (``STATUS_CONFIRMED``
        for a paused instance asked to start).
        """
        generation = self._bump(fid)
        self._last_boot[fid] = generation
        self._store.instances[fid].status = status
        self._store.instances[fid].ssh_destination = None
        spec = spec_factory()
        self._pool.submit(self._boot, fid, generation, spec)

    def halt(self, fid: str, status: str, then: str | None = None) -> None:
        """Marks ``fid`` with ``status`` now and stops its processes in the background.

        With ``then``, the instance gets that status once its processes are gone
        (``STATUS_STOPPING`` then ``STATUS_PAUSED``). The caller holds ``store.lock``.
        """
        generation = self._bump(fid)
        instance = self._store.instances[fid]
        instance.status = status
        if status in ("STATUS_TERMINATED", "STATUS_PAUSED", "STATUS_PREEMPTED"):
            instance.ssh_destination = None
        if status in ("STATUS_TERMINATED", "STATUS_PREEMPTED"):
            instance.end_time = utcnow()
        if status == "STATUS_TERMINATED":
            timer = threading.Timer(
                SHUTDOWN_SECONDS, self._stop_later, (fid, generation, then, True)
            )
            timer.daemon = True
            timer.start()
        elif status != "STATUS_PREEMPTING":
            discard = status == "STATUS_PREEMPTED"
            self._pool.submit(self._stop, fid, generation, then, discard)

    def erase(self, fid: str) -> None:
        """Deletes the disk of stopped instance ``fid`` (blocks until done).

        Waits for a stop of the instance still under way; the caller must not hold
        ``store.lock`` (a stop in progress takes it when it ends).
        """
        with self._lock_of(fid):
            self._launcher.stop(fid, discard=True)

    def shutdown(self) -> None:
        """Stops accepting work, waits for pending boots, then stops every instance."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._launcher.stop_all()

    def _bump(self, fid: str) -> int:
        self._generation[fid] = self._generation.get(fid, 0) + 1
        return self._generation[fid]

    def _current(self, fid: str, generation: int) -> bool:
        return self._generation.get(fid) == generation

    def _lock_of(self, fid: str) -> threading.Lock:
        with self._fid_locks_guard:
            return self._fid_locks.setdefault(fid, threading.Lock())

    def _stop_later(self, fid: str, generation: int, then: str | None, discard: bool) -> None:
        try:
            self._pool.submit(self._stop, fid, generation, then, discard)
        except RuntimeError:
            # The sandbox is shutting down; ``shutdown`` stops every instance itself.
            pass

    def _stop(
        self, fid: str, generation: int, then: str | None = None, discard: bool = False
    ) -> None:
        with self._lock_of(fid):
            with self._store.lock:
                # A boot asked for after this stop replaces the processes itself.
                if self._last_boot.get(fid, 0) > generation:
                    return
            self._launcher.stop(fid, discard=discard)
            with self._store.lock:
                if then is not None and self._current(fid, generation):
                    self._store.instances[fid].status = then
                    self._store.instances[fid].ssh_destination = None

    def _boot(self, fid: str, generation: int, spec: LaunchSpec) -> None:
        with self._lock_of(fid):
            self._boot_locked(fid, generation, spec)

    def _boot_locked(self, fid: str, generation: int, spec: LaunchSpec) -> None:
        with self._store.lock:
            if not self._current(fid, generation):
                return
            self._store.instances[fid].status = "STATUS_STARTING"
        try:
            destination = self._launcher.start(spec)
            status = "STATUS_RUNNING" if self._launcher.reachable else self._unreachable_status
        except (LaunchError, OSError) as exc:
            log.warning("instance %s failed to start: %s", fid, exc)
            destination, status = None, "STATUS_ERROR"
        with self._store.lock:
            if self._current(fid, generation):
                instance = self._store.instances[fid]
                instance.status = status
                instance.ssh_destination = destination
                instance.private_ip = "127.0.0.1" if destination else None
                return
        # A stop came in while this instance was booting: undo the boot.
        self._launcher.stop(fid)
