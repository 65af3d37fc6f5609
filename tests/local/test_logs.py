from __future__ import annotations

import statistics
import sys
import time

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.local import logs

from .conftest import wait_terminal


def _never_done() -> bool:
    return False


def test_follow_yields_lines_without_newlines_and_partial_last_line_only_at_end(tmp_path):
    path = tmp_path / "out.log"
    path.write_bytes(b"one\ntwo\nthr")
    done = {"value": False}
    waits = []

    def wait(seconds):
        waits.append(seconds)
        if len(waits) == 2:
            with open(path, "ab") as handle:
                handle.write(b"ee\nfour")
            done["value"] = True

    lines = list(logs.follow(path, lambda: done["value"], wait=wait))
    assert lines == ["one", "two", "three", "four"]


def test_follow_waits_for_a_file_that_does_not_exist_yet(tmp_path):
    path = tmp_path / "late.log"
    calls = []

    def wait(_seconds):
        calls.append(1)
        if len(calls) == 3:
            path.write_text("hello\n")

    assert list(logs.follow(path, lambda: len(calls) >= 3, wait=wait)) == ["hello"]


def test_follow_ends_at_once_for_a_finished_task_without_log(tmp_path):
    assert list(logs.follow(tmp_path / "none.log", lambda: True)) == []


def test_follow_from_offset_skips_exactly_the_lines_seen(tmp_path):
    path = tmp_path / "out.log"
    path.write_text("".join(f"l{i}\n" for i in range(10)))
    assert list(logs.follow(path, lambda: True, start_line=7)) == ["l7", "l8", "l9"]
    assert list(logs.follow(path, lambda: True, start_line=10)) == []


def test_read_tail_returns_last_lines_of_a_large_file(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(50_000)))
    assert logs.read_tail(path, 3) == "line 49997\nline 49998\nline 49999"
    assert logs.read_tail(path, 0) == ""
    assert logs.read_tail(tmp_path / "missing.log", 5) == ""


def test_unknown_log_type_is_a_validation_error(provider):
    task = provider.submit_task("", TaskConfig(command="true"))
    with pytest.raises(ValidationError, match="unknown log type"):
        provider.get_task_logs(task.task_id, log_type="syslog")
    with pytest.raises(ValidationError):
        provider.stream_task_logs(task.task_id, log_type="both")


def test_stream_follows_live_output_and_stops_when_task_ends(provider):
    script = "import time\nfor i in range(5):\n    print(f'tick {i}')\n    time.sleep(0.05)\n"
    task = provider.submit_task("", TaskConfig(script=script))
    started = time.monotonic()
    seen = []
    for line in provider.stream_task_logs(task.task_id):
        seen.append((line, time.monotonic() - started))
    assert [line for line, _ in seen] == [f"tick {i}" for i in range(5)]
    # Lines arrive as written, not all at the end.
    assert seen[-1][1] - seen[0][1] >= 0.15
    assert provider.get_task_status(task.task_id).is_terminal


def test_stream_yields_unterminated_last_line_once_task_ended(provider):
    task = provider.submit_task("", TaskConfig(command="printf 'a\\nno newline'"))
    assert list(provider.stream_task_logs(task.task_id)) == ["a", "no newline"]


def test_resume_from_offset_loses_and_repeats_nothing(provider):
    script = "import time\nfor i in range(40):\n    print(i)\n    time.sleep(0.005)\n"
    task = provider.submit_task("", TaskConfig(script=script))
    first = []
    for line in provider.stream_task_logs(task.task_id):
        first.append(line)
        if len(first) == 13:
            break
    rest = list(provider.stream_task_logs_from(task.task_id, start_line=len(first)))
    assert first + rest == [str(i) for i in range(40)]


def test_stream_latency_median_is_within_twenty_milliseconds(provider):
    script = (
        "import time\nfor i in range(40):\n    print(time.time(), flush=True)\n"
        "    time.sleep(0.015)\n"
    )
    task = provider.submit_task("", TaskConfig(command=[sys.executable, "-c", script]))
    delays = [time.time() - float(line) for line in provider.stream_task_logs(task.task_id)]
    wait_terminal(provider, task.task_id)
    assert len(delays) == 40
    assert statistics.median(delays) <= 0.02, statistics.median(delays)


def test_log_tail_wakes_for_output_after_a_quiet_spell_and_keeps_logs_apart(tmp_path):
    import threading

    from flow_notebook.providers.local.logs import LogTail

    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    out.write_text("skipped\nfirst\n")
    tail = LogTail({"stdout": out, "stderr": err}, lambda: False, start={"stdout": 1})
    assert tail.read(1.0) == [("stdout", "first\n")]
    assert tail.read(1.5) == []  # Quiet: past the quick reads, now waiting on changes.

    def write_later() -> None:
        with err.open("a") as handle:
            handle.write("late error\n")

    writer = threading.Timer(0.3, write_later)
    writer.start()
    assert tail.read(10.0) == [("stderr", "late error\n")]
    writer.join()
    tail.close()


def test_close_from_another_thread_ends_a_blocked_read(tmp_path):
    import threading

    from flow_notebook.providers.local.logs import LogTail

    tail = LogTail({"stdout": tmp_path / "stdout.log"}, lambda: False)
    tail.read(1.5)
    closer = threading.Timer(0.3, tail.close)
    closer.start()
    assert tail.read(60.0) is None
    closer.join()


def test_a_new_exit_record_makes_a_silent_tail_check_the_end_at_once(tmp_path):
    import threading

    from flow_notebook.providers.local.logs import LogTail

    done = tmp_path / "exit.json"
    tail = LogTail({"stdout": tmp_path / "stdout.log"}, done.exists)
    assert tail.read(1.5) == []
    writer = threading.Timer(0.3, lambda: done.write_text("{}"))
    writer.start()
    assert tail.read(3.0) is None  # Ended well before the 5 s fallback check.
    writer.join()
