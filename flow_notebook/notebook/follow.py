r"""The one follow engine: a ``Follow`` owns a task's log stream and draws it on a surface.

A ``Follow`` runs on its own daemon thread. It opens the task's logs (stdout and
stderr together, resuming after the lines already shown), reads them through a
blocking, closable stream, and hands the output to its ``Surface`` in batches: at
most one draw every ``batch_interval`` seconds and at most ``batch_bytes`` per draw,
each batch cut at a line end (or ``\\r``) so a draw never splits a line it could
have finished. It refreshes the task's status for the surface's header, records the
lines of each batch in ``LogPositions`` just before drawing it (so a kill -9 of the
kernel never makes the next attach repeat a line) and, when the log ends, waits for
the terminal status and ends the surface with a ``RunSummary`` from its ``Finisher``.
A stream that fails ends the follow with one line and the task's status as the
provider's API reports it.

``stop`` closes the stream: the thread ends within 100 ms even while the task is
silent, and ``stop`` itself never waits on the network. ``hand_over`` stops a follow
and starts the same follow on another surface from the recorded positions.

Surfaces: ``notebook.surfaces`` (plain text, the live cell view) and the panels.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from flow_notebook.core.errors import FlowError
from flow_notebook.core.line_streams import LineStreams
from flow_notebook.core.models import Task
from flow_notebook.core.provider_interfaces import (
    ILogStream,
    ILogStreams,
    IProvider,
    IResumableLogs,
    LogChunk,
)
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.render import RunSummary
from flow_notebook.notebook.transcript import Transcript

LOG_TYPES = ("stdout", "stderr")
BATCH_INTERVAL = 0.075
"""Seconds between two draws while output flows (IOPub gets ~13 messages a second)."""
BATCH_BYTES = 64 * 1024
"""Most characters handed to a surface in one draw."""
FLOOD_INTERVAL = 0.5
"""Seconds between draws after a draw that was full: a flood never floods IOPub."""
STATUS_INTERVAL = 2.0
"""Seconds between two redraws of the header (elapsed time), from the task as last seen."""
REFRESH_INTERVAL = 5.0
"""Seconds between two reads of the task's status from the provider."""
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*")


def emit(text: str) -> None:
    """Prints ``text`` at once, so lines reach the cell while the task still runs."""
    print(text, flush=True)


def attach_hint(task_id: str) -> str:
    """Returns the commands that resume watching a task or stop it."""
    return f"%flow attach {task_id} to watch it again, %flow cancel {task_id} to stop it"


@dataclass(frozen=True)
class Timing:
    """How often to poll and how long to wait for a status to settle.

    Attributes:
        poll_interval: Seconds between status checks while waiting.
        settle_timeout: Seconds to wait for a terminal status after a log stream ended
            or a cancel was requested.
    """

    poll_interval: float = 0.5
    settle_timeout: float = 10.0


class Surface(Protocol):
    """Where a follow draws. Called from the follow's thread, one call at a time."""

    def begin(self, task: Task, start: Mapping[str, int]) -> None:
        """Draws the view for the first time (``start``: lines shown before, per log)."""
        ...

    def status(self, task: Task) -> None:
        """The task as just seen (status, times): redraw the header."""
        ...

    def write(self, chunks: list[LogChunk]) -> None:
        """Draws a batch of output, in the order it was written."""
        ...

    def end(self, summary: RunSummary) -> None:
        """Replaces the live view by the final one (``summary.note`` set: stopped early)."""
        ...


class Finisher(Protocol):
    """Builds the summary that ends a view."""

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


@dataclass
class FollowOptions:
    """How a follow reads and records.

    Attributes:
        log_types: The logs followed.
        record: Record the lines shown in the positions (resume point).
        redact: Masks secrets in the output.
        finisher: Builds the final summary.
        timing: Poll interval and how long to wait for the terminal status.
        batch_interval: Least seconds between two draws.
        settle: When the log ends, wait for the terminal status before ending the
            view (a log viewer ends with its log).
        reopen: Reopen a log that failed while the task has not ended (instance
            boot, lost connection), from the line reached.
    """

    log_types: Sequence[str] = LOG_TYPES
    record: bool = True
    redact: Callable[[str], str] = str
    finisher: Finisher | None = None
    timing: Timing = Timing()
    batch_interval: float = BATCH_INTERVAL
    settle: bool = True
    reopen: bool = True


class Follow:
    """Follows one task's logs on a daemon thread and draws them on a surface.

    Args:
        provider: The task's provider.
        task: The task as last seen.
        surface: Where to draw.
        positions: Where the lines shown are recorded and read back (resume); ``None``
            for a follow that records nothing and is given ``start``.
        options: What to read, record and mask; how to end.
        start: Lines already shown per log; ``None`` reads them from ``positions``.
    """

    def __init__(
        self,
        provider: IProvider,
        task: Task,
        surface: Surface,
        positions: LogPositions | None,
        options: FollowOptions | None = None,
        *,
        start: Mapping[str, int] | None = None,
    ) -> None:
        self.options = options or FollowOptions()
        self.task_id = task.task_id
        self.task = task
        self.surface = surface
        self._provider = provider
        self._positions = positions
        self.finisher: Finisher = self.options.finisher or PlainFinisher()
        resumable = isinstance(provider, (ILogStreams, IResumableLogs))
        if start is None:
            if positions is None:
                raise ValueError("a follow without positions needs start=")
            start = {kind: positions.get(task.task_id, kind) for kind in self.options.log_types}
        self.start_lines = {
            k: int(start.get(k, 0)) if resumable else 0 for k in self.options.log_types
        }
        self.shown = dict(self.start_lines)
        self._recorded = dict(self.start_lines)
        self.recent = _Recent()
        self.summary: RunSummary | None = None
        self.error: str | None = None
        self._stream: ILogStream | None = None
        self._stop_note: str | None = None
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"flow-follow-{task.task_id}")
        self._thread.daemon = True

    # --- control, from any thread; none of it waits on the network ---------------------

    def start(self) -> Follow:
        """Draws the view and starts following; returns ``self``."""
        self.surface.begin(self.task, dict(self.start_lines))
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """Whether the view was ended (task ended, stopped, or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the view was ended; returns whether it was."""
        return self._done.wait(timeout)

    def stop(self, note: str, *, join: float = 0.0) -> None:
        """Stops following; the view ends with ``note``. The task is left as it is.

        Args:
            note: Why, and what to do next; shown in the view.
            join: Seconds to wait for the thread to end (it ends within 100 ms).
        """
        with self._lock:
            if self._stop_note is None:
                self._stop_note = note
            stream = self._stream
        self._stopping.set()
        if stream is not None:
            stream.close()
        if not self._thread.is_alive() and not self._done.is_set():
            self._finish_stopped()  # Never started: end the view here.
        if join and self._thread is not threading.current_thread():
            self._thread.join(join)

    def hand_over(self, surface: Surface, note: str = "following moved to a newer view") -> Follow:
        """Stops this follow and starts the same one on ``surface``, after what was shown.

        Returns:
            The new, started follow.
        """
        self.stop(note, join=1.0)
        follow = Follow(
            self._provider, self.task, surface, self._positions, self.options, start=self.shown
        )
        return follow.start()

    def cancel_task(self, on_done: Callable[[str], None] | None = None) -> None:
        """Asks the provider to cancel the task, on a thread of its own.

        The view then ends as the task does. ``on_done`` receives one line saying
        how it went (from that thread).
        """

        def cancel() -> None:
            try:
                self._provider.cancel_task(self.task_id)
                outcome = f"asked task {self.task_id} to stop"
            except FlowError as exc:
                outcome = f"could not cancel task {self.task_id}: {exc}"
            if on_done is not None:
                on_done(outcome)

        threading.Thread(target=cancel, name=f"flow-cancel-{self.task_id}", daemon=True).start()

    # --- the follow thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._follow_until_end()
            if self._stopping.is_set():
                self._finish_stopped()
                return
            task = self._settle() if self.options.settle else self.task
            if self._stopping.is_set():
                self._finish_stopped()
            elif task.is_terminal or not self.options.settle:
                self._end(self.finisher.ended(task, *self._kept()))
            else:
                waited = f"{self.options.timing.settle_timeout:g}s"
                self._stop_note = (
                    f"the log ended but the task is still {task.status.value} after {waited}: "
                    + attach_hint(self.task_id)
                )
                self._finish_stopped()
        except Exception as exc:  # A follow thread must never die without a word.
            reason = str(exc) if isinstance(exc, FlowError) else f"{type(exc).__name__}: {exc}"
            self.error = reason
            self._refresh_status()  # The task's state from the API, not from the dead stream.
            with self._lock:
                if self._stop_note is None:
                    self._stop_note = f"stopped following ({reason}): " + attach_hint(self.task_id)
            self._finish_stopped()
        finally:
            self._done.set()

    def _follow_until_end(self) -> None:
        self._refresh_status()
        stream = open_stream(self._provider, self.task_id, self.shown, self.options)
        with self._lock:
            self._stream = stream
        if self._stopping.is_set():
            stream.close()
        batch = _Batch(self.options.redact, self.finisher)
        interval = self.options.batch_interval
        last_status = last_refresh = time.monotonic()
        last_draw = 0.0  # The first output is drawn at once.
        flooded = False  # The last draw was full: the surface may hold a redraw back.
        try:
            while True:
                now = time.monotonic()
                if batch.pending or flooded:
                    due = last_draw + interval
                else:
                    due = now + STATUS_INTERVAL
                chunks = stream.read(max(0.0, min(due, last_status + STATUS_INTERVAL) - now))
                if chunks is None:
                    break
                batch.add(chunks)
                now = time.monotonic()
                if batch.size >= BATCH_BYTES or (batch.pending and now - last_draw >= interval):
                    flooded = batch.size >= BATCH_BYTES
                    self._draw(batch.take(final=False))
                    interval = FLOOD_INTERVAL if flooded else self.options.batch_interval
                    last_draw = now
                elif flooded and now - last_draw >= interval:
                    self.surface.write([])  # Quiet after a flood: draw what was held back.
                    flooded = False
                if now - last_status >= STATUS_INTERVAL:
                    if now - last_refresh >= REFRESH_INTERVAL:
                        self._refresh_status()
                        last_refresh = now
                    else:
                        self.surface.status(self.task)
                    last_status = now
        finally:
            stream.close()
            self._draw(batch.take(final=not self._stopping.is_set()))

    def _draw(self, chunks: list[LogChunk]) -> None:
        if not chunks:
            return
        for chunk in chunks:
            self.shown[chunk.log_type] = self.shown.get(chunk.log_type, 0) + chunk.text.count("\n")
        # Recorded before it is drawn: a kill between the two may leave this batch out
        # of the next attach (it stays in the task's log), never show it twice.
        self._record()
        self.recent.add(chunks)
        self.surface.write(chunks)

    def _refresh_status(self) -> None:
        try:
            self.task = self._provider.get_task(self.task_id)
        except FlowError:
            return  # The header keeps the status last seen.
        self.surface.status(self.task)

    def _settle(self) -> Task:
        timing = self.options.timing
        deadline = time.monotonic() + timing.settle_timeout
        task = self._provider.get_task(self.task_id)
        while not task.is_terminal and time.monotonic() < deadline:
            if self._stopping.wait(timing.poll_interval):
                break
            task = self._provider.get_task(self.task_id)
        self.task = task
        return task

    def _kept(self) -> tuple[list[str], int]:
        kept = self.recent.lines()
        shown = sum(self.shown.values()) - sum(self.start_lines.values())
        return kept, max(0, shown - len(kept))

    def _finish_stopped(self) -> None:
        note = self._stop_note or "stopped following: " + attach_hint(self.task_id)
        self._end(self.finisher.stopped(self.task, *self._kept(), note))

    def _end(self, summary: RunSummary) -> None:
        with self._lock:
            if self.summary is not None:
                return
            self.summary = summary
        self._record()
        try:
            self.surface.end(summary)
        finally:
            self._done.set()

    def _record(self) -> None:
        if not self.options.record or self._positions is None:
            return
        for kind, lines in self.shown.items():
            if lines and self._recorded.get(kind) != lines:  # Idle follows write nothing.
                try:
                    self._positions.set(self.task_id, lines, kind)
                    self._recorded[kind] = lines
                except FlowError:
                    pass  # A lost resume point must not stop the view.


class _Recent:
    """The last output drawn, raw and bounded, for the summary's last lines."""

    def __init__(self, keep: int = 16 * 1024) -> None:
        self._keep = keep
        self._chunks: deque[LogChunk] = deque()
        self._size = 0

    def add(self, chunks: list[LogChunk]) -> None:
        for chunk in chunks:
            text = chunk.text[-self._keep :]
            self._chunks.append(LogChunk(chunk.log_type, text))
            self._size += len(text)
        while self._size > self._keep and len(self._chunks) > 1:
            self._size -= len(self._chunks.popleft().text)

    def lines(self) -> list[str]:
        transcript = Transcript(self._keep * 2)
        transcript.add(self._chunks)
        transcript.finish()
        return transcript.texts()[-200:]


class _Batch:
    r"""Output read but not drawn yet, cut so that each draw ends at a line end or ``\\r``."""

    def __init__(self, redact: Callable[[str], str], finisher: Finisher) -> None:
        self._redact = redact
        self._finisher = finisher
        # Only finishers that look at lines cost a pass over each line.
        self._filter = type(finisher).consume is not PlainFinisher.consume
        self._parts: list[LogChunk] = []
        self._held: dict[str, list[str]] = {}
        self.size = 0

    @property
    def pending(self) -> bool:
        return bool(self._parts)

    def add(self, chunks: list[LogChunk]) -> None:
        for chunk in chunks:
            held = self._held.setdefault(chunk.log_type, [])
            cut = max(chunk.text.rfind("\n"), chunk.text.rfind("\r")) + 1
            if cut == 0 and sum(map(len, held)) + len(chunk.text) < BATCH_BYTES:
                held.append(chunk.text)  # Unfinished: wait for its end (redaction needs it).
                continue
            text = "".join([*held, chunk.text[:cut] if cut else chunk.text])
            self._held[chunk.log_type] = [chunk.text[cut:]] if cut and chunk.text[cut:] else []
            self._append(chunk.log_type, text)

    def take(self, *, final: bool) -> list[LogChunk]:
        if final:
            for kind, held in self._held.items():
                if held:
                    self._append(kind, "".join(held))
            self._held = {}
        parts, self._parts, self.size = self._parts, [], 0
        return parts

    def _append(self, kind: str, text: str) -> None:
        if self._filter:
            text = "".join(
                line
                for line in text.splitlines(keepends=True)
                if not self._finisher.consume(line.rstrip("\r\n"))
            )
        if not text:
            return
        text = self._redact(text)
        if self._parts and self._parts[-1].log_type == kind:
            self._parts[-1] = LogChunk(kind, self._parts[-1].text + text)
        else:
            self._parts.append(LogChunk(kind, text))
        self.size += len(text)


def open_stream(
    provider: IProvider,
    task_id: str,
    start: Mapping[str, int],
    options: FollowOptions,
) -> ILogStream:
    """Opens the provider's closable stream, or reads its line iterators on threads.

    ``LineStreams`` cannot close a reader blocked on the network: it ends at its next
    line or the task's end (providers with such readers implement ``ILogStreams``).
    """
    if isinstance(provider, ILogStreams):
        return provider.open_log_stream(task_id, start, options.log_types)
    resumable = isinstance(provider, IResumableLogs)

    def open_lines(kind: str, first: int) -> Iterator[str]:
        if isinstance(provider, IResumableLogs):
            return provider.stream_task_logs_from(task_id, first, kind)
        return provider.stream_task_logs(task_id, kind)

    return LineStreams(
        open_lines,
        lambda: provider.get_task(task_id).status,
        start,
        options.log_types,
        poll=options.timing.poll_interval,
        reopen=options.reopen,
        resumable=resumable,
    )


class Followers:
    """The follows a kernel runs, by task id, so they can be found, joined or stopped."""

    def __init__(self) -> None:
        self._items: dict[str, Follow] = {}
        self._lock = threading.Lock()

    def add(self, follow: Follow) -> None:
        """Registers a follow, stopping an earlier one of the same task."""
        with self._lock:
            old = self._items.get(follow.task_id)
            self._items[follow.task_id] = follow
        if old is not None and old is not follow and not old.done:
            old.stop("following moved to a newer cell", join=1.0)

    def get(self, task_id: str) -> Follow | None:
        """Returns the follow of ``task_id``, if this kernel has one."""
        with self._lock:
            return self._items.get(task_id)

    def stop_all(self, note: str, timeout: float = 1.0) -> None:
        """Stops every follow still running; waits (up to ``timeout`` s) until they ended.

        Their positions are recorded when this returns, so a new kernel resumes exactly.
        """
        with self._lock:
            items = [follow for follow in self._items.values() if not follow.done]
        for follow in items:
            follow.stop(note)
        deadline = time.monotonic() + timeout
        for follow in items:
            follow.wait(max(0.0, deadline - time.monotonic()))


def failure_line(task: Task, lines: Sequence[str]) -> str:
    """Returns one line about a failed task: its exception (when one shows) and exit code."""
    code = f" (exit {task.exit_code})" if task.exit_code is not None else ""
    cause = next((line.strip() for line in reversed(lines) if _EXCEPTION.match(line.strip())), "")
    if not cause:
        cause = next((line.strip() for line in reversed(lines) if line.strip()), "")
    tail = f": {cause[:300]}" if cause else ""
    return f"task {task.task_id} failed{code}{tail}"
