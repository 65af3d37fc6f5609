"""Following a task on a background thread into its cell's live view.

A ``TaskFollower`` streams the log (resuming after the lines already shown when the
provider supports ``IResumableLogs``) into a ``LiveView``, so the kernel stays free
and the lines stay pinned to the cell that started the task. When the stream ends it
waits for the terminal status, then closes the view with the summary its
``Finisher`` builds (which may pull variables back). ``detach`` stops following at
once without touching the task; the lines already shown are recorded, so ``%flow
attach`` resumes with nothing lost or repeated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from flow_notebook.core.errors import FlowError, RemoteOperationError, TaskStateError
from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.core.provider_interfaces import IProvider, IResumableLogs
from flow_notebook.notebook.follow import wait_until_ended
from flow_notebook.notebook.formatting import format_duration
from flow_notebook.notebook.live import LiveView
from flow_notebook.notebook.render import RunSummary
from flow_notebook.notebook.session import Timing

START_TIMEOUT = 600.0
"""Seconds a follower keeps reopening a log that is not available yet (instance boot)."""
_NOT_STARTED = frozenset({TaskStatus.PENDING, TaskStatus.PROVISIONING})


def attach_hint(task_id: str) -> str:
    """Returns the commands that resume watching a task or stop it."""
    return f"%flow attach {task_id} to watch it again, %flow cancel {task_id} to stop it"


class Finisher(Protocol):
    """Builds the summary that replaces a live view."""

    def ended(self, task: Task, kept: list[str], dropped: int) -> RunSummary:
        """The summary of a task that ended while followed."""
        ...

    def stopped(self, task: Task, kept: list[str], dropped: int, note: str) -> RunSummary:
        """The summary when following stopped before the task ended."""
        ...

    def consume(self, line: str) -> bool:
        """Whether ``line`` is data for the finisher, to keep out of the view."""
        ...


class PlainFinisher:
    """A summary with fixed fact lines and nothing done at the end.

    Args:
        facts: Lines to show under the status (e.g. the code provenance).
    """

    def __init__(self, facts: list[str] | None = None) -> None:
        self.facts = list(facts or [])

    def ended(self, task: Task, kept: list[str], dropped: int) -> RunSummary:
        """Returns the summary of an ended task."""
        return RunSummary(task, kept, dropped, list(self.facts))

    def stopped(self, task: Task, kept: list[str], dropped: int, note: str) -> RunSummary:
        """Returns the summary of a task no longer followed."""
        return RunSummary(task, kept, dropped, list(self.facts), note)

    def consume(self, line: str) -> bool:
        """Keeps every line in the view."""
        return False


class TaskFollower:
    """Streams one task's log into a live view on a daemon thread.

    Args:
        provider: The task's provider.
        task: The task as last seen (shown if the provider cannot be reached later).
        view: The opened live view.
        finisher: Builds the final summary.
        timing: Poll interval and how long to wait for the terminal status.
        redact: Masks secrets in each line.
        start_line: Log lines already shown (resume point).
    """

    def __init__(
        self,
        provider: IProvider,
        task: Task,
        view: LiveView,
        finisher: Finisher,
        *,
        timing: Timing,
        redact: Callable[[str], str] = str,
        start_line: int = 0,
    ) -> None:
        self.task_id = task.task_id
        self._provider = provider
        self._task = task
        self._view = view
        self.finisher = finisher
        self._timing = timing
        self._redact = redact
        self._start = start_line
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"flow-follow-{task.task_id}")
        self._thread.daemon = True
        self.summary: RunSummary | None = None

    def start(self) -> TaskFollower:
        """Starts following; returns ``self``."""
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """Whether the view was closed (ended, detached or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the view is closed; returns whether it was."""
        return self._done.wait(timeout)

    def detach(self, note: str) -> None:
        """Stops following and closes the view with ``note``; the task is left as it is."""
        self._stopping.set()
        self._close_stopped(note)

    def _run(self) -> None:
        try:
            self._follow()
            if self._stopping.is_set():
                return
            task = wait_until_ended(
                self._provider,
                self.task_id,
                self._timing.settle_timeout,
                self._timing.poll_interval,
            )
            self._task = task
            if task.is_terminal:
                self._close(lambda kept, dropped: self.finisher.ended(task, kept, dropped))
            else:
                waited = format_duration(self._timing.settle_timeout)
                self._close_stopped(
                    f"the log ended but the task is still {task.status.value} after {waited}: "
                    + attach_hint(self.task_id)
                )
        except FlowError as exc:
            self._close_stopped(f"stopped following ({exc}): " + attach_hint(self.task_id))
        except Exception as exc:  # A follower thread must never die without a word.
            reason = f"{type(exc).__name__}: {exc}"
            self._close_stopped(f"stopped following ({reason}): " + attach_hint(self.task_id))
        finally:
            self._done.set()

    def _follow(self) -> None:
        """Streams until the log ends; reopens it while the task is still starting up.

        A provider may refuse logs until an instance runs (``TaskStateError``) or
        while its SSH server starts (``RemoteOperationError``); both are retried, from
        the line reached, until the task ends or ``START_TIMEOUT`` passes.
        """
        deadline = time.monotonic() + START_TIMEOUT
        added = 0
        while True:
            self._wait_until_started()
            try:
                added += self._stream_from(self._start + added)
                return
            except (TaskStateError, RemoteOperationError) as exc:
                added += getattr(exc, "lines_added", 0)
                resumable = isinstance(self._provider, IResumableLogs)
                if time.monotonic() > deadline or (added and not resumable):
                    raise
                if self._provider.get_task(self.task_id).is_terminal:
                    raise
            if self._stopping.wait(self._timing.poll_interval):
                return

    def _wait_until_started(self) -> None:
        while not self._stopping.is_set():
            task = self._provider.get_task(self.task_id)
            if task.status not in _NOT_STARTED:
                return
            self._stopping.wait(self._timing.poll_interval)

    def _stream_from(self, start: int) -> int:
        provider = self._provider
        if isinstance(provider, IResumableLogs):
            stream = provider.stream_task_logs_from(self.task_id, start)
        else:
            stream = provider.stream_task_logs(self.task_id)
        added = 0
        try:
            for line in stream:
                if self._stopping.is_set():
                    break
                text = line.rstrip("\n")
                if self.finisher.consume(text):
                    continue
                if not self._view.add(self._redact(text)):
                    break
                added += 1
        except (TaskStateError, RemoteOperationError) as exc:
            exc.lines_added = added  # type: ignore[attr-defined]
            raise
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return added

    def _close_stopped(self, note: str) -> None:
        try:
            self._task = self._provider.get_task(self.task_id)
        except FlowError:
            pass  # Show the task as last seen.
        task = self._task
        self._close(lambda kept, dropped: self.finisher.stopped(task, kept, dropped, note))

    def _close(self, build: Callable[[list[str], int], RunSummary]) -> None:
        def summary(kept: list[str], dropped: int) -> RunSummary:
            self.summary = build(kept, dropped)
            return self.summary

        if self._view.close(summary):
            self._done.set()


class Followers:
    """The followers a kernel runs, by task id, so they can be joined or stopped."""

    def __init__(self) -> None:
        self._items: dict[str, TaskFollower] = {}
        self._lock = threading.Lock()

    def add(self, follower: TaskFollower) -> None:
        """Registers a follower, detaching an earlier one of the same task."""
        with self._lock:
            old = self._items.get(follower.task_id)
            self._items[follower.task_id] = follower
        if old is not None and not old.done:
            old.detach("following moved to a newer cell")

    def get(self, task_id: str) -> TaskFollower | None:
        """Returns the follower of ``task_id``, if this kernel has one."""
        with self._lock:
            return self._items.get(task_id)

    def stop_all(self, note: str) -> None:
        """Detaches every follower still running."""
        with self._lock:
            items = list(self._items.values())
        for follower in items:
            if not follower.done:
                follower.detach(note)


def block_until_done(
    follower: TaskFollower,
    provider: IProvider,
    timing: Timing,
    *,
    timeout: float | None = None,
    on_interrupt: str = "detach",
) -> RunSummary | None:
    """Waits in the cell until the follower closed its view; handles interrupts.

    The first interrupt detaches (the task keeps running) or, with
    ``on_interrupt="cancel"``, cancels the task and returns once the provider reports
    it ended (or says in the view that it did not).

    Returns:
        The summary shown.
    """
    task_id = follower.task_id
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not follower.wait(0.05):
            if deadline is not None and time.monotonic() >= deadline:
                note = f"stopped waiting after {format_duration(timeout)}; it keeps running: "
                follower.detach(note + attach_hint(task_id))
                break
    except KeyboardInterrupt:
        if on_interrupt == "cancel":
            _cancel(follower, provider, timing)
        else:
            note = "detached (interrupted); the task keeps running: "
            follower.detach(note + attach_hint(task_id))
    return follower.summary


def _cancel(follower: TaskFollower, provider: IProvider, timing: Timing) -> None:
    task_id = follower.task_id
    try:
        provider.cancel_task(task_id)
        task = wait_until_ended(provider, task_id, timing.settle_timeout, timing.poll_interval)
    except FlowError as exc:
        follower.detach(f"could not cancel task {task_id} ({exc}); it may still run")
        return
    except KeyboardInterrupt:
        follower.detach(
            f"interrupted while cancelling: task {task_id} may still run; "
            f"%flow status {task_id}, %flow cancel {task_id}"
        )
        return
    if not task.is_terminal:
        follower.detach(
            f"asked task {task_id} to stop; it is still {task.status.value}: %flow cancel {task_id}"
        )
    elif not follower.wait(timing.settle_timeout):
        follower.detach(f"task {task_id} {task.status.value} on interrupt")
