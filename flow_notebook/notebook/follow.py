"""Following a task: streaming its log into the cell, or waiting for it to end.

Stopping a follow (Ctrl-C / the stop button, or ``--timeout``) never stops the task:
it prints how to reattach or cancel, and records how many lines were shown so a
later ``%flow logs TASK --follow`` resumes where this one left off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flow_notebook.core.models import Task
from flow_notebook.core.provider_interfaces import IProvider, IResumableLogs
from flow_notebook.notebook.formatting import follow_hint, format_duration, outcome_line
from flow_notebook.notebook.session import FlowSession

Sleep = Callable[[float], None]


def emit(text: str) -> None:
    """Prints ``text`` at once, so lines reach the cell while the task still runs."""
    print(text, flush=True)


def follow_logs(
    session: FlowSession,
    task_id: str,
    *,
    log_type: str = "stdout",
    timeout: float | None = None,
    on_interrupt: str = "detach",
) -> Task:
    """Prints the task's log lines as they are written until it ends, then its outcome.

    Resumes after the lines recorded as already shown when the provider supports
    ``IResumableLogs``.

    Args:
        session: Supplies the provider and the log positions.
        task_id: The task to follow.
        log_type: ``stdout`` or ``stderr``.
        timeout: Stop following after this many seconds, checked as lines arrive.
        on_interrupt: ``detach`` leaves the task running; ``cancel`` cancels it and
            waits until the provider reports it ended.

    Returns:
        The task as last seen (terminal unless the follow was stopped).

    Raises:
        FlowError: The provider failed; the task is left as it is.
    """
    provider = session.provider
    start = 0
    if isinstance(provider, IResumableLogs):
        start = session.positions.get(task_id, log_type)
        if start:
            emit(f"(resuming {task_id} after {start} lines already shown)")
        stream = provider.stream_task_logs_from(task_id, start, log_type)
    else:
        stream = provider.stream_task_logs(task_id, log_type)
    shown: list[int] = [0]
    try:
        stopped = _print_stream(stream, timeout, shown, session.redactor(task_id))
    finally:
        # Recorded even when the provider fails mid-stream, so a retry resumes.
        session.positions.set(task_id, start + shown[0], log_type)
    if stopped is None:
        try:
            task = wait_until_ended(
                provider, task_id, session.timing.settle_timeout, session.timing.poll_interval
            )
        except KeyboardInterrupt:
            stopped = "interrupted"
    if stopped == "interrupted" and on_interrupt == "cancel":
        return cancel_and_confirm(session, task_id)
    if stopped:
        emit(
            f"stopped following task {task_id} ({stopped}); it keeps running: "
            + follow_hint(task_id)
        )
        return provider.get_task(task_id)
    emit(outcome_line(task))
    return task


def wait_for_task(
    session: FlowSession,
    task_id: str,
    *,
    timeout: float | None = None,
    on_interrupt: str = "detach",
) -> Task:
    """Waits quietly until the task ends, then prints its outcome.

    Args:
        session: Supplies the provider.
        task_id: The task to wait for.
        timeout: Stop waiting after this many seconds.
        on_interrupt: ``detach`` or ``cancel`` (see ``follow_logs``).

    Returns:
        The task as last seen.
    """
    provider = session.provider
    try:
        task = wait_until_ended(provider, task_id, timeout, session.timing.poll_interval)
    except KeyboardInterrupt:
        if on_interrupt == "cancel":
            return cancel_and_confirm(session, task_id)
        emit(f"stopped waiting for task {task_id}; it keeps running: " + follow_hint(task_id))
        return provider.get_task(task_id)
    if task.is_terminal:
        emit(outcome_line(task))
    else:
        emit(
            f"task {task_id} still {task.status.value} after {format_duration(timeout)}; "
            + follow_hint(task_id)
        )
    return task


def cancel_and_confirm(session: FlowSession, task_id: str) -> Task:
    """Cancels the task and waits until the provider reports it ended; says how it went.

    Returns:
        The task as last seen.
    """
    provider = session.provider
    try:
        provider.cancel_task(task_id)
        task = wait_until_ended(
            provider, task_id, session.timing.settle_timeout, session.timing.poll_interval
        )
    except KeyboardInterrupt:
        emit(f"interrupted while cancelling: task {task_id} may still run; %flow cancel {task_id}")
        return provider.get_task(task_id)
    if task.is_terminal:
        emit(f"task {task_id} {task.status.value} on interrupt")
    else:
        still = f"it is still {task.status.value}"
        emit(f"asked task {task_id} to stop; {still}: %flow cancel {task_id}")
    return task


def wait_until_ended(
    provider: IProvider,
    task_id: str,
    timeout: float | None,
    interval: float,
    sleep: Sleep = time.sleep,
) -> Task:
    """Polls the task until it is terminal or ``timeout`` seconds pass (``None``: forever).

    Returns:
        The last task seen, terminal or not.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    task = provider.get_task(task_id)
    while not task.is_terminal:
        if deadline is not None and time.monotonic() >= deadline:
            break
        sleep(interval)
        task = provider.get_task(task_id)
    return task


def _print_stream(
    stream: Iterator[str],
    timeout: float | None,
    shown: list[int],
    redact: Callable[[str], str] = str,
) -> str | None:
    """Prints lines until the stream ends, counting them in ``shown[0]``.

    Returns:
        Why it stopped before the stream ended, or ``None`` when it ran to the end.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for line in stream:
            emit(redact(line.rstrip("\n")))
            shown[0] += 1
            if deadline is not None and time.monotonic() >= deadline:
                return f"timeout {format_duration(timeout)}"
    except KeyboardInterrupt:
        return "interrupted"
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return None
