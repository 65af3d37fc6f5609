"""Following a task in the cell that asked: starting the follow, waiting for it, failing.

Every command that shows a task's output goes through here: ``%%flow run``, ``%flow
run --follow``, ``%flow attach``, ``%flow logs --follow`` and ``%flow wait``. The
follow runs on its own thread; a command that blocks (``--wait``, ``--follow``) only
waits on the follow's events, so an interrupt is handled at once and nothing on the
kernel thread waits on the network. Interrupting detaches (the task keeps running),
or with ``--on-interrupt cancel`` cancels the task and waits for it to end.
"""

from __future__ import annotations

import time
from typing import Any

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.follow import (
    LOG_TYPES,
    Finisher,
    Follow,
    FollowOptions,
    attach_hint,
    emit,
    failure_line,
)
from flow_notebook.notebook.formatting import follow_hint, format_duration, outcome_line
from flow_notebook.notebook.render import RunSummary, log_hint
from flow_notebook.notebook.session import FlowSession

_TICK = 0.05


class TaskFailedError(Exception):
    """A task waited for in a cell failed; shown as one line (see ``magics``)."""


def follow_in_cell(
    session: FlowSession,
    task: Task,
    finisher: Finisher | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    redact: Any = None,
    keep_kb: int | None = None,
    plain: bool = False,
    start: dict[str, int] | None = None,
    log_types: tuple[str, ...] = LOG_TYPES,
) -> Follow:
    """Shows the task's view in the current cell and follows it on a thread.

    An earlier follow of the same task in this kernel is stopped first, so the lines
    it showed are recorded before this one reads the resume point.

    Args:
        session: Supplies the provider, positions, surfaces and the follow registry.
        task: The task as last seen.
        finisher: Builds the summary that ends the view.
        metadata: Output metadata of the view (provenance).
        redact: Masks secrets in the output (default: the session's for the task).
        keep_kb: Output kept in the notebook.
        plain: Print into the cell's output (``--follow``) instead of a live view.
        start: Lines already shown per log (default: the recorded positions).
        log_types: The logs shown.

    Returns:
        The started follow.
    """
    old = session.followers.get(task.task_id)
    if old is not None and not old.done:
        old.stop("following moved to a newer cell", join=1.0)
    if plain:
        from flow_notebook.notebook.surfaces import PlainSurface

        surface: Any = PlainSurface(keep_kb or session.keep_kb)
    else:
        surface = session.make_surface(
            {"task_id": task.task_id, "provider": task.provider, **(metadata or {})}, keep_kb
        )
    options = FollowOptions(
        log_types=log_types,
        redact=redact or session.redactor(task.task_id),
        finisher=finisher,
        timing=session.timing,
    )
    provider = session.provider_of(task.task_id)
    follow = Follow(provider, task, surface, session.positions, options, start=start)
    connect = getattr(surface, "connect", None)
    if connect is not None:
        connect(
            on_cancel=lambda: follow.cancel_task(getattr(surface, "say", None)),
            on_detach=lambda: follow.stop(
                "detached; the task keeps running: " + attach_hint(task.task_id)
            ),
        )
    session.followers.add(follow)
    return follow.start()


def block_until_done(
    follow: Follow, *, timeout: float | None = None, on_interrupt: str = "detach"
) -> RunSummary | None:
    """Waits in the cell until the follow ended its view; handles interrupts and timeouts.

    The first interrupt detaches (the task keeps running) or, with
    ``on_interrupt="cancel"``, cancels the task and waits until the view ends.

    Returns:
        The summary shown.
    """
    task_id = follow.task_id
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not follow.wait(_TICK):
            if deadline is not None and time.monotonic() >= deadline:
                note = f"stopped waiting after {timeout:g}s; it keeps running: "
                follow.stop(note + attach_hint(task_id), join=1.0)
                break
    except KeyboardInterrupt:
        if on_interrupt == "cancel":
            _cancel_and_wait(follow)
        else:
            note = "detached (interrupted); the task keeps running: "
            follow.stop(note + attach_hint(task_id), join=1.0)
    follow.wait(1.0)
    return follow.summary


def _cancel_and_wait(follow: Follow) -> None:
    task_id = follow.task_id
    outcome: list[str] = []
    follow.cancel_task(outcome.append)
    try:
        follow.wait(follow.options.timing.settle_timeout + 5.0)
    except KeyboardInterrupt:
        pass
    if not follow.done:
        said = outcome[0] if outcome else f"asked task {task_id} to stop"
        follow.stop(f"{said}; it may still run: %flow status {task_id}, %flow cancel {task_id}")


def raise_on_failure(
    summary: RunSummary | None, pull_problem: str | None = None, lost: str | None = None
) -> None:
    """Raises one line when a waited-for task failed or its ``--pull`` did not work.

    With ``--pull`` it is an error whenever the values did not come back, also when
    the follow stopped (detached, timed out, the API unavailable) before the end. A
    follow that lost its stream (``lost``: why) while the task still runs is an error
    too: the wait was not asked to end, so the cells after it must not run as if the
    task had.

    Raises:
        TaskFailedError: ``task ID failed (exit N): ValueError: ...; full log: ...``.
    """
    if summary is not None and summary.note and pull_problem:
        raise TaskFailedError(f"{pull_problem}; {summary.note}")
    if summary is not None and lost and not summary.task.is_terminal:
        task = summary.task
        raise TaskFailedError(
            f"task {task.task_id} is still {task.status.value}, but its log was lost "
            f"({lost}): {attach_hint(task.task_id)}"
        )
    if summary is None or summary.note:
        return  # Detached, timed out or cancelled on request: the view says so.
    task = summary.task
    if task.status is TaskStatus.FAILED:
        lines = [line for line in summary.lines if line.strip()]
        raise TaskFailedError(f"{failure_line(task, lines)}; {log_hint(task.task_id)}")
    if pull_problem:
        raise TaskFailedError(f"task {task.task_id} {task.status.value}; {pull_problem}")


def wait_for_status(session: FlowSession, task_id: str, timeout: float | None) -> Task:
    """Waits (quietly, without a view) until the task ends; raises nothing on interrupt.

    Used by ``%flow run --wait`` and ``%flow wait`` on a task no follow shows: a
    follow without output (a plain surface of zero bytes) would read the logs for
    nothing, so this polls the status on a follow-free path, in short interruptible
    sleeps.

    Raises:
        KeyboardInterrupt: The user interrupted; the caller decides what that means.
        FlowError: The provider failed.
    """
    provider = session.provider_of(task_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    task = provider.get_task(task_id)
    while not task.is_terminal:
        if deadline is not None and time.monotonic() >= deadline:
            break
        time.sleep(session.timing.poll_interval)
        task = provider.get_task(task_id)
    return task


def wait_quietly(
    session: FlowSession, task_id: str, *, timeout: float | None, on_interrupt: str
) -> Task:
    """Waits without output until the task ends, then prints its outcome (``--wait``).

    Returns:
        The task as last seen.
    """
    try:
        task = wait_for_status(session, task_id, timeout)
    except KeyboardInterrupt:
        if on_interrupt == "cancel":
            emit(cancel_now(session, task_id))
        else:
            emit(f"stopped waiting for task {task_id}; it keeps running: " + follow_hint(task_id))
        return session.provider_of(task_id).get_task(task_id)
    if task.is_terminal:
        emit(outcome_line(task))
    else:
        emit(
            f"task {task_id} still {task.status.value} after {format_duration(timeout)}; "
            + follow_hint(task_id)
        )
    return task


def cancel_now(session: FlowSession, task_id: str) -> str:
    """Cancels the task and says in one line how it went."""
    try:
        session.provider_of(task_id).cancel_task(task_id)
    except FlowError as exc:
        return f"could not cancel task {task_id}: {exc}"
    task = wait_for_status(session, task_id, session.timing.settle_timeout)
    if task.is_terminal:
        return f"task {task_id} {task.status.value} on interrupt"
    return f"asked task {task_id} to stop; it is still {task.status.value}: %flow cancel {task_id}"
