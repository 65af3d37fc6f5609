"""The on-instance watcher's logic against a fake API (its real runs are in tests/mithril/e2e)."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import datetime, timedelta, timezone

from flow_notebook.providers.mithril.runtime import watcher
from flow_notebook.providers.mithril.runtime.watcher import Watcher


class FakeApi:
    """Answers the watcher's calls from in-memory bids and keys; records every call."""

    def __init__(self, allocated_at: datetime, ranks_done: list[int] = ()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.allocated_at = allocated_at
        self.keys = [{"fid": f"k{r}", "name": f"flow-done:key_1:{r}:0"} for r in ranks_done]

    def call(self, method: str, path: str, body=None, **params):
        self.calls.append((method, path))
        if path == "/v2/spot/bids":
            return {"data": [{"fid": "bid_1", "name": "job", "created_at": "2030-01-01T00:00:00Z"}]}
        if path.endswith("/history"):
            later = self.allocated_at + timedelta(hours=1)
            events = [{"event_type": "Allocated", "timestamp": t.isoformat()}
                      for t in (later, self.allocated_at)]  # fmt: skip
            return {"events": events}
        if (method, path) == ("POST", "/v2/api-keys"):
            self.keys.append({"fid": "k_new", "name": body["name"]})
            return {"fid": "k_new"}
        if path == "/v2/api-keys":
            return self.keys
        return None


def _settings(tmp_path, **more):
    return {
        "project": "proj", "bid_name": "job", "key_fid": "key_1", "key_expires_at": "x",
        "done_marker": str(tmp_path / "done"), "exit_code_file": str(tmp_path / "exit_code"),
        "stderr_log": str(tmp_path / "stderr.log"), "runner_pid_file": str(tmp_path / "pid"),
        "rank_file": str(tmp_path / "rank"), "linger_seconds": 0, "grace_seconds": 1, **more,
    }  # fmt: skip


def test_deadline_counts_from_the_first_allocation_and_stops_the_whole_group(tmp_path):
    runner = subprocess.Popen(["sleep", "600"], start_new_session=True)
    (tmp_path / "pid").write_text(f"{runner.pid}\n")
    first = datetime.now(timezone.utc) - timedelta(seconds=30)
    api = FakeApi(first)
    try:
        Watcher(_settings(tmp_path, max_run_seconds=31), api, io.StringIO()).run()
        assert runner.wait(timeout=10) < 0  # killed by a signal
    finally:
        if runner.poll() is None:
            runner.kill()
    assert (tmp_path / "exit_code").read_text() == f"{watcher.TIMEOUT_EXIT_CODE}\n"
    assert "run-time limit (31s)" in (tmp_path / "stderr.log").read_text()
    assert ("DELETE", "/v2/spot/bids/bid_1") in api.calls
    assert api.calls[-1] == ("DELETE", "/v2/api-keys/key_1")  # the task key is revoked last
    assert ("POST", "/v2/api-keys") not in api.calls  # the limit ended it, not the command


def test_a_rank_that_ended_waits_for_the_other_then_cancels(tmp_path):
    (tmp_path / "exit_code").write_text("0\n")
    (tmp_path / "rank").write_text("1\n")
    (tmp_path / "done").touch()
    api = FakeApi(datetime.now(timezone.utc), ranks_done=[0])
    Watcher(_settings(tmp_path, num_nodes=2), api, io.StringIO()).run()
    assert [k["name"] for k in api.keys] == ["flow-done:key_1:0:0", "flow-done:key_1:1:0"]
    deletes = [path for method, path in api.calls if method == "DELETE"]
    assert deletes == ["/v2/spot/bids/bid_1", "/v2/api-keys/k_new", "/v2/api-keys/key_1"]
    assert os.path.exists(tmp_path / "done")


def _ended_rank_zero(tmp_path):
    (tmp_path / "exit_code").write_text("0\n")
    (tmp_path / "rank").write_text("0\n")
    (tmp_path / "done").touch()


def test_a_kernel_seen_reading_the_task_gets_a_bounded_wait_before_the_cancel(tmp_path):
    _ended_rank_zero(tmp_path)
    seen = tmp_path / "kernel_seen"
    seen.touch()  # a kernel read the status just now
    log = io.StringIO()
    settings = _settings(tmp_path, kernel_seen_file=str(seen), kernel_wait_seconds=1.5)
    Watcher(settings, FakeApi(datetime.now(timezone.utc)), log).run()
    assert "a kernel may be reading the task" in log.getvalue()
    assert log.getvalue().index("a kernel may be") < log.getvalue().index("cancelled")


def test_no_wait_when_no_kernel_read_the_task_lately(tmp_path, monkeypatch):
    _ended_rank_zero(tmp_path)
    seen = tmp_path / "kernel_seen"
    seen.touch()
    stale = datetime.now().timestamp() - watcher.KERNEL_FRESH_SECONDS - 5
    os.utime(seen, (stale, stale))
    real_time = watcher.time.time
    # The watcher started long ago too (its own start counts as a read).
    for path in (str(seen), str(tmp_path / "never_touched")):
        log = io.StringIO()
        settings = _settings(tmp_path, kernel_seen_file=path, kernel_wait_seconds=60)
        api = FakeApi(datetime.now(timezone.utc))
        monkeypatch.setattr(watcher.time, "time", lambda: real_time() - 60)
        made = Watcher(settings, api, log)
        monkeypatch.setattr(watcher.time, "time", real_time)
        made.run()
        assert "a kernel may be reading" not in log.getvalue()
        assert ("DELETE", "/v2/spot/bids/bid_1") in api.calls
