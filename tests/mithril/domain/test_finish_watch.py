"""FinishWatcher: running tasks' exit codes read in the background, bounded and throttled."""

from __future__ import annotations

import sys
import threading

import pytest

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.providers.mithril.domain.finish_watch import FinishWatcher


class Codes:
    """Exit codes per task (keyed by the first instance name), recording every read."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.reads: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def read(self, instances) -> int | None:
        self.gate.wait(5)
        self.reads.append(instances[0])
        return self.codes.get(instances[0])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def codes() -> Codes:
    return Codes()


@pytest.fixture
def finished() -> list[tuple[str, int]]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watcher(codes, finished, clock):
    built = FinishWatcher(
        codes.read,
        lambda task_id, code: finished.append((task_id, code)),
        min_interval=5.0,
        max_tasks=3,
        clock=clock,
    )
    yield built
    built.close()


def _running(*names: str) -> list[tuple[str, list[str]]]:
    return [(f"bid_{name}", [f"inst_{name}"]) for name in names]


def test_a_task_found_with_an_exit_code_is_handed_on_with_its_code(watcher, codes, finished):
    codes.codes["inst_a"] = 3
    watcher.check(_running("a", "b"))
    assert watcher.wait_idle(5)
    assert finished == [("bid_a", 3)]
    assert sorted(codes.reads) == ["inst_a", "inst_b"]


def test_the_same_task_is_not_checked_again_before_the_interval(watcher, codes, clock):
    watcher.check(_running("a"))
    assert watcher.wait_idle(5)
    watcher.check(_running("a"))
    assert watcher.wait_idle(5)
    assert codes.reads == ["inst_a"]
    clock.now += 5.0
    watcher.check(_running("a"))
    assert watcher.wait_idle(5)
    assert codes.reads == ["inst_a", "inst_a"]


def test_one_check_takes_at_most_max_tasks_and_returns_before_reading(watcher, codes):
    codes.gate.clear()  # reads block until released: check must not wait for them
    watcher.check(_running("a", "b", "c", "d", "e"))
    assert not watcher.wait_idle(0.05)
    codes.gate.set()
    assert watcher.wait_idle(5)
    assert sorted(codes.reads) == ["inst_a", "inst_b", "inst_c"]


def test_a_failure_to_finish_a_task_is_logged_and_the_rest_still_checked(codes, clock):
    codes.codes.update({"inst_a": 0, "inst_b": 1})
    handed: list[str] = []

    def on_finished(task_id: str, code: int) -> None:
        handed.append(task_id)
        if task_id == "bid_a":
            raise ProviderUnavailableError("API down")

    watcher = FinishWatcher(codes.read, on_finished, clock=clock)
    try:
        watcher.check(_running("a", "b"))
        assert watcher.wait_idle(5)
        assert handed == ["bid_a", "bid_b"]
    finally:
        watcher.close()


def test_after_close_nothing_more_is_checked(watcher, codes):
    watcher.close()
    watcher.check(_running("a"))
    assert watcher.wait_idle(1)
    assert codes.reads == []


def test_any_exception_in_a_check_is_reported_once_and_the_thread_goes_on(codes, clock, caplog):
    codes.codes.update({"inst_b": 0})
    finished: list[str] = []

    def read(instances):
        if instances[0] == "inst_a":
            raise OSError("disk full while saving the log")
        return codes.read(instances)

    watcher = FinishWatcher(read, lambda task_id, code: finished.append(task_id), clock=clock)
    try:
        for _ in range(3):
            watcher.check(_running("a", "b"))
            assert watcher.wait_idle(5)
            clock.now += 10
        assert finished == ["bid_b", "bid_b", "bid_b"]
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [
            "checking whether task bid_a ended failed: OSError: disk full while saving the log"
        ]
    finally:
        watcher.close()


def test_a_check_made_while_the_thread_exits_is_read_and_not_reported_idle():
    """The lost wake-up: the worker found the queue empty and is ending when work arrives."""
    exiting, resume = threading.Event(), threading.Event()
    finished: list[str] = []

    def hold_thread_exit(frame, event: str, arg) -> None:
        # Holds the worker between leaving its loop and ending, where the race lies.
        if event == "return" and frame.f_code is threading.Thread.run.__code__:
            exiting.set()
            resume.wait(5)

    watcher = FinishWatcher(lambda instances: 0, lambda t, c: finished.append(t), min_interval=0)
    threading.setprofile(hold_thread_exit)
    try:
        watcher.check([("bid_a", [])])
        assert exiting.wait(5)
        watcher.check([("bid_b", [])])
        resume.set()
        assert watcher.wait_idle(5)
        assert finished == ["bid_a", "bid_b"]
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        resume.set()
        watcher.close()


def test_thousands_of_enqueue_exit_interleavings_strand_nothing():
    """Each check lands as the previous one is handed on, i.e. as the worker may exit."""
    finished: list[str] = []
    watcher = FinishWatcher(lambda instances: 0, lambda t, c: finished.append(t), min_interval=0)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for number in range(3000):
            task_id = f"bid_{number}"
            watcher.check([(task_id, [])])
            assert watcher.wait_idle(5)
            assert finished[-1:] == [task_id], f"check {number} was stranded in the queue"
        assert len(finished) == 3000
    finally:
        sys.setswitchinterval(switch)
        watcher.close()


def test_a_task_handed_on_as_ended_is_finished_without_reading_again(watcher, codes, finished):
    watcher.finished("bid_a", 4)
    assert watcher.wait_idle(5)
    assert finished == [("bid_a", 4)]
    assert codes.reads == []
