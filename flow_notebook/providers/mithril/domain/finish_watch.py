"""Notices, in the background, that a listed task's command has ended.

``TaskQueries.list`` opens no SSH, so on its own it would show a task whose
command ended as ``running`` (and accruing cost) until someone asks for that one
task. It hands the running tasks it lists to ``FinishWatcher.check``, which reads
their exit code files in one background thread, over the pooled SSH connections
and the instances the listing already fetched (no HTTP request). A task found
finished is passed to ``on_finished`` (which records the code and terminates the
bid), so the next listing shows it ``completed`` or ``failed``.

Bounded work: at most ``max_tasks`` tasks per ``check``, each task checked at most
once per ``min_interval`` seconds, one thread at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from flow_notebook.core.errors import FlowError
from flow_notebook.providers.mithril.api.dto import InstanceModel

logger = logging.getLogger(__name__)

RunningTask = tuple[str, Sequence[InstanceModel]]
"""A running task's bid id and its instances in rank order."""


class FinishWatcher:
    """Reads the exit codes of running tasks in a background thread.

    Args:
        read_exit_code: Returns the task's exit code once every instance has one,
            else ``None`` (``ExitCodeReader.read`` fits); must not raise for SSH
            failures.
        on_finished: Called with the bid id and exit code of a task found finished.
        min_interval: Seconds before the same task is checked again.
        max_tasks: Most tasks taken from one ``check`` call.
        clock: Monotonic time source, injectable for tests.
    """

    def __init__(
        self,
        read_exit_code: Callable[[Sequence[InstanceModel]], int | None],
        on_finished: Callable[[str, int], None],
        *,
        min_interval: float = 5.0,
        max_tasks: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read_exit_code
        self._on_finished = on_finished
        self._min_interval = min_interval
        self._max_tasks = max_tasks
        self._clock = clock
        self._checked_at: dict[str, float] = {}
        # Per task: the instances to read the exit code of, or the code already known.
        self._queue: dict[str, Sequence[InstanceModel] | int] = {}
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Whether a worker owns the queue (idle is clear exactly while it does). Set and
        # cleared under the lock: work queued as a worker exits starts a new one, where
        # asking ``Thread.is_alive`` lost that wake-up.
        self._draining = False
        self._reported: set[tuple[str, str]] = set()

    def check(self, running: Sequence[RunningTask]) -> None:
        """Queues the tasks not checked recently; returns at once.

        Args:
            running: Running tasks without a known exit code.
        """
        now = self._clock()
        with self._lock:
            if self._closed:
                return
            due = [
                (task_id, instances)
                for task_id, instances in running
                if task_id not in self._queue
                and now - self._checked_at.get(task_id, -self._min_interval) >= self._min_interval
            ][: self._max_tasks]
            for task_id, instances in due:
                self._checked_at[task_id] = now
                self._queue[task_id] = instances
            self._start_locked()

    def finished(self, task_id: str, exit_code: int) -> None:
        """Queues ``on_finished`` for a task whose exit code is known; returns at once."""
        with self._lock:
            if self._closed:
                return
            self._queue[task_id] = exit_code
            self._start_locked()

    def wait_idle(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for queued checks to end; returns whether they did."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Drops queued checks and waits (bounded) for the running one. Safe to call twice."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _start_locked(self) -> None:
        if self._queue and not self._draining:
            self._draining = True
            self._idle.clear()
            self._thread = threading.Thread(
                target=self._drain, name="flow-finish-watch", daemon=True
            )
            self._thread.start()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    self._idle.set()
                    return
                task_id = next(iter(self._queue))
                instances = self._queue.pop(task_id)
            try:
                self._check_one(task_id, instances)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure
                self._report_once(task_id, exc)

    def _report_once(self, task_id: str, exc: Exception) -> None:
        key = (task_id, type(exc).__name__)
        if key in self._reported:
            return
        self._reported.add(key)
        logger.warning("checking whether task %s ended failed: %s: %s", task_id,
                       type(exc).__name__, exc)  # fmt: skip

    def _check_one(self, task_id: str, instances: Sequence[InstanceModel] | int) -> None:
        code = instances if isinstance(instances, int) else self._read(instances)
        if code is None:
            return
        try:
            self._on_finished(task_id, code)
        except FlowError as exc:
            # The next listing or status call tries again; nothing is lost.
            logger.warning("could not finish task %s: %s", task_id, exc)
