"""The on-instance watcher: ends a task's bid when its command ends or its deadline passes.

The startup script writes this file and its JSON settings (root-only, they hold the
task key) and starts it detached as root, beside the task runner. It needs only
Python's standard library and the Mithril API, never the kernel that submitted
the task. In order, it

1. finds its bid by name and, when the task has a run-time limit, the deadline:
   the bid's first allocation plus the limit, read from the bid's history, so a
   reboot or a re-allocation after a preemption keeps the original deadline;
2. waits until the runner marks the command done, or until the deadline, when it
   stops the workload (SIGTERM to the runner's process group, SIGKILL after the
   grace) and records exit code 124 where the runner records exit codes;
3. records the end through the API as a "done key" (an API key whose name carries
   the task key's id, this node's rank and the exit code; its secret is dropped),
   so the provider learns the exit code even after the instances are gone and
   every node of a multi-instance task sees which ranks ended;
4. once every rank ended (or at the deadline), and after a bounded wait when a
   kernel was reading the task's status (it saves the logs, then ends the bid
   itself), cancels the bid, retrying with
   backoff until the API confirms it, then revokes the done key and the task key
   (the revocations go out right after the cancel is accepted, before the
   instance shuts down).

With ``keep_alive`` only the deadline ends the bid. Nothing it logs holds a secret.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

DONE_PREFIX = "flow-done:"
"""Names of done keys: ``flow-done:<task key fid>:<rank>:<exit code>``."""
TIMEOUT_EXIT_CODE = 124
"""Exit code recorded when the run-time limit stops the command (as ``timeout`` does)."""
POLL_SECONDS = 1.0
KERNEL_FRESH_SECONDS = 20.0
"""A kernel that read the task's status this recently is watching it (it reads every few s)."""
HTTP_TIMEOUT = 10.0
MAX_BACKOFF = 30.0


class ApiRefused(Exception):
    """The API answered with a status the caller did not expect."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Api:
    """The few Mithril API calls the watcher makes, authenticated with the task key.

    Args:
        url: API base URL.
        secret: The task key's secret.
    """

    def __init__(self, url: str, secret: str) -> None:
        self._url = url.rstrip("/")
        self._secret = secret

    def __repr__(self) -> str:
        """Names the URL only."""
        return f"Api({self._url!r})"

    def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """Sends one request; returns the decoded JSON answer (``None`` when empty).

        Raises:
            ApiRefused: Any status from 300 up.
            OSError: The request could not be sent or answered.
        """
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self._url + path + query, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._secret}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise ApiRefused(exc.code) from None
        return json.loads(raw) if raw.strip() else None


class Watcher:
    """One task's watcher (see the module docstring).

    Args:
        settings: The JSON settings the startup script wrote.
        api: API access with the task key.
        log: Where progress lines go (never a secret).
    """

    def __init__(self, settings: dict[str, Any], api: Api, log: Any = sys.stdout) -> None:
        self._s = settings
        self._api = api
        self._log = log
        self._done_key: str | None = None
        self._started = time.time()

    def run(self) -> int:
        """Watches until the bid is cancelled (or, with ``keep_alive``, no deadline is left)."""
        bid = self._retry("find the bid", self._find_bid)
        deadline = self._deadline(bid)
        self._say(f"watching bid {bid['fid']}; deadline {deadline or 'none'}")
        timed_out = self._wait_for_end(deadline)
        if not timed_out and self._s.get("keep_alive"):
            if deadline is None:
                self._say("command ended; keep-alive: the instance stays up")
                return 0
            self._sleep_until(deadline)
            timed_out = True
        if not timed_out:
            self._retry("record the end", self._record_done)
            self._wait_for_all_ranks(deadline)
            time.sleep(float(self._s.get("linger_seconds", 0)))
            self._wait_for_a_watching_kernel()
        self._cancel(bid["fid"])
        return 0

    # --- the bid and its deadline --------------------------------------------------

    def _find_bid(self) -> dict[str, Any]:
        answer = self._api.call(
            "GET", "/v2/spot/bids", project=self._s["project"], name=self._s["bid_name"]
        )
        for bid in answer.get("data", []):
            if bid.get("name") == self._s["bid_name"]:
                return dict(bid)
        raise LookupError("bid not listed yet")

    def _deadline(self, bid: dict[str, Any]) -> datetime | None:
        limit = self._s.get("max_run_seconds")
        if not limit:
            return None
        start = _parse_time(bid["created_at"])
        try:
            history = self._api.call("GET", f"/v2/spot/bids/{bid['fid']}/history")
            allocated = [
                _parse_time(e["timestamp"])
                for e in history.get("events", [])
                if e.get("event_type") == "Allocated"
            ]
            start = min(allocated) if allocated else start
        except (ApiRefused, OSError, ValueError, KeyError) as exc:
            self._say(f"no bid history ({exc}); the limit counts from the bid's creation")
        return start + timedelta(seconds=float(limit))

    # --- the workload --------------------------------------------------------------

    def _wait_for_end(self, deadline: datetime | None) -> bool:
        """Waits for the done marker; at the deadline stops the workload. Returns timed out."""
        while not os.path.exists(self._s["done_marker"]):
            if deadline is not None and _now() >= deadline:
                self._stop_workload()
                return True
            time.sleep(POLL_SECONDS)
        return False

    def _stop_workload(self) -> None:
        limit = self._s["max_run_seconds"]
        self._say(f"run-time limit of {limit:g}s reached: stopping the command")
        group = self._runner_group()
        if group is not None:
            _signal_group(group, signal.SIGTERM)
            end = time.monotonic() + float(self._s.get("grace_seconds", 30))
            while time.monotonic() < end and _group_alive(group):
                time.sleep(0.2)
            _signal_group(group, signal.SIGKILL)
        if not os.path.exists(self._s["done_marker"]):
            with open(self._s["stderr_log"], "a") as stderr:
                stderr.write(f"flow: stopped after reaching the run-time limit ({limit:g}s)\n")
            _write_atomic(self._s["exit_code_file"], f"{TIMEOUT_EXIT_CODE}\n")
            open(self._s["done_marker"], "a").close()

    def _runner_group(self) -> int | None:
        try:
            with open(self._s["runner_pid_file"]) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def _wait_for_a_watching_kernel(self) -> None:
        """Gives a kernel that is reading the task time to save its logs and end the bid.

        Such a kernel archives the logs, then cancels the bid itself (which stops this
        instance); cancelling first would take the logs away. A kernel counts as
        reading while it touched the file lately; the watcher's own start counts as a
        touch, so a task that ends right after boot waits for the first read of a
        kernel that follows it. The wait is bounded, so a kernel that went away costs
        at most ``KERNEL_FRESH_SECONDS`` (``kernel_wait_seconds`` at worst).
        """
        path = self._s.get("kernel_seen_file")
        if not path:
            return
        limit = _now() + timedelta(seconds=float(self._s.get("kernel_wait_seconds", 0)))
        said = False
        while _now() < limit:
            try:
                seen = max(os.stat(path).st_mtime, self._started)
            except OSError:
                seen = self._started
            if time.time() - seen > KERNEL_FRESH_SECONDS:
                return
            if not said:
                self._say("a kernel may be reading the task: waiting for it to keep the logs")
                said = True
            time.sleep(POLL_SECONDS)

    # --- ranks ---------------------------------------------------------------------

    def _record_done(self) -> None:
        if self._done_key is not None:
            return
        code = _read_int(self._s["exit_code_file"], 1)
        rank = _read_int(self._s["rank_file"], 0)
        expires = self._s["key_expires_at"]
        name = f"{DONE_PREFIX}{self._s['key_fid']}:{rank}:{code}"
        created = self._api.call("POST", "/v2/api-keys", {"name": name, "expires_at": expires})
        self._done_key = created["fid"]
        self._say(f"command ended with {code} on rank {rank}")

    def _wait_for_all_ranks(self, deadline: datetime | None) -> None:
        """Waits until every rank recorded its end, the deadline passes or the key dies."""
        nodes = int(self._s.get("num_nodes", 1))
        while nodes > 1 and (deadline is None or _now() < deadline):
            try:
                if len(self._ranks_done()) >= nodes:
                    return
            except ApiRefused as exc:
                if exc.status == 401:
                    return  # revoked or expired: the cancel below reports it
                self._say(f"could not list the ranks that ended: {exc}")
            except (OSError, ValueError) as exc:
                self._say(f"could not list the ranks that ended: {exc}")
            time.sleep(2 * POLL_SECONDS)

    def _ranks_done(self) -> set[str]:
        prefix = f"{DONE_PREFIX}{self._s['key_fid']}:"
        names = [key.get("name", "") for key in self._api.call("GET", "/v2/api-keys")]
        return {name[len(prefix) :].split(":")[0] for name in names if name.startswith(prefix)}

    # --- the end -------------------------------------------------------------------

    def _cancel(self, bid_fid: str) -> None:
        delay = 1.0
        while True:
            try:
                self._api.call("DELETE", f"/v2/spot/bids/{bid_fid}")
                break
            except ApiRefused as exc:
                if exc.status == 404:
                    break
                if exc.status == 401:
                    self._say("the task key no longer works; the provider ends the bid")
                    return
                self._say(f"cancel refused ({exc}); retrying")
            except OSError as exc:
                self._say(f"cancel not sent ({exc}); retrying")
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        # The instance shuts down soon after: revoke first, report after.
        for fid in (self._done_key, self._s["key_fid"]):
            if fid:
                self._revoke(fid)
        self._say(f"bid {bid_fid} cancelled; task key revoked")

    def _revoke(self, fid: str) -> None:
        try:
            self._api.call("DELETE", f"/v2/api-keys/{fid}")
        except (ApiRefused, OSError) as exc:
            self._say(f"could not revoke key {fid}: {exc}")

    # --- helpers -------------------------------------------------------------------

    def _retry(self, what: str, action: Any) -> Any:
        delay = 1.0
        while True:
            try:
                return action()
            except (ApiRefused, OSError, LookupError, ValueError) as exc:
                if isinstance(exc, ApiRefused) and exc.status == 401:
                    raise SystemExit(f"watcher: the task key no longer works ({what})") from None
                self._say(f"could not {what} ({exc}); retrying")
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    def _sleep_until(self, moment: datetime) -> None:
        while _now() < moment:
            time.sleep(POLL_SECONDS)

    def _say(self, line: str) -> None:
        stamp = _now().strftime("%H:%M:%S")
        self._log.write(f"{stamp} watcher: {line}\n")
        self._log.flush()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _read_int(path: str, default: int) -> int:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return default


def _write_atomic(path: str, text: str) -> None:
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _signal_group(group: int, number: int) -> None:
    try:
        os.killpg(group, number)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def main(argv: list[str]) -> int:
    """Runs the watcher with the settings file ``argv[1]``."""
    with open(argv[1]) as handle:
        settings = json.load(handle)
    api = Api(settings["api_url"], settings.pop("key_secret"))
    return Watcher(settings, api).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
