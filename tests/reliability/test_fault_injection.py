"""1,000+ mixed provider operations under injected faults: typed errors only, no duplicate
bids, no lost tasks, and a circuit breaker that opens, fails fast and closes.

The sandbox runs without real instances (``--no-instances``); its fault rules give 10%
503s, 5% 429s with ``Retry-After``, 2% dropped connections and 2% latency spikes. The
operation mix comes from a seeded ``random.Random``, the faults from the sandbox's seed
and the client's jitter from a seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import random
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from flow_notebook.core.errors import FlowError, ProviderUnavailableError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    RequestsTransport,
    TransportError,
    TransportRequest,
    TransportResponse,
)
from flow_notebook.sandbox.testing import A100, wait_for

pytestmark = pytest.mark.sandbox

SEED = 20240611
OPERATIONS = 1_100
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFFEDJOarS6FS8rbe/W0mHeG8WfKDfy34pXEH0y1niRT reliability"
)
FAULTS = {
    "error_rate": 0.10,
    "error_status": 503,
    "rate_limit_rate": 0.05,
    "retry_after": 1,
    "drop_rate": 0.02,
    "spike_rate": 0.02,
    "spike_ms": 150,
}
MIX = [
    ("submit", 18), ("get", 20), ("list", 12), ("logs", 6), ("cancel", 10),
    ("volume_create", 6), ("volume_list", 6), ("volume_delete", 5),
    ("key_create", 6), ("key_list", 6), ("key_delete", 5),
]  # fmt: skip


@dataclass
class Run:
    """What the mixed run did and saw."""

    provider: Any
    rng: random.Random
    outcomes: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[tuple[str, str]] = field(default_factory=Counter)
    unhandled: list[str] = field(default_factory=list)
    submits: int = 0
    tasks: dict[str, str] = field(default_factory=dict)  # task id -> bid name
    cancel_asked: set[str] = field(default_factory=set)
    volumes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def do(self, name: str, action: Callable[[], Any]) -> None:
        """Runs one operation and files its outcome: ok, noop, a FlowError class, unhandled."""
        try:
            outcome = "noop" if action() is False else "ok"
        except FlowError as exc:
            outcome = type(exc).__name__
            assert "\n" not in str(exc), f"multi-line error: {exc!r}"
        except Exception:  # noqa: BLE001 - counting what escaped is the point
            outcome = "UNHANDLED"
            self.unhandled.append(f"{name}: {traceback.format_exc()}")
        self.outcomes[outcome] += 1
        self.by_operation[(name, outcome)] += 1

    def pick(self, items: list[str]) -> str | None:
        return self.rng.choice(items) if items else None

    # --- the operations ------------------------------------------------------------

    def submit(self) -> None:
        self.submits += 1
        config = TaskConfig(name=f"fi-{self.submits}", command="sleep 600")
        task = self.provider.submit_task("a100", config)
        self.tasks[task.task_id] = task.metadata["bid_name"]

    def get(self) -> bool:
        if task_id := self.pick(sorted(self.tasks)):
            self.provider.get_task(task_id)
        return task_id is not None

    def list(self) -> None:
        self.provider.list_tasks(limit=50)

    def logs(self) -> bool:
        if task_id := self.pick(sorted(self.tasks)):
            self.provider.get_task_logs(task_id, tail=10)
        return task_id is not None

    def cancel(self) -> bool:
        live = sorted(set(self.tasks) - self.cancel_asked)
        if task_id := self.pick(live):
            self.cancel_asked.add(task_id)
            self.provider.cancel_task(task_id)
        return task_id is not None

    def volume_create(self) -> None:
        volume = self.provider.create_volume(1, f"fi-vol-{self.rng.randrange(10**9)}")
        self.volumes.append(volume.volume_id)

    def volume_list(self) -> None:
        self.provider.list_volumes()

    def volume_delete(self) -> bool:
        if volume_id := self.pick(self.volumes):
            self.volumes.remove(volume_id)
            self.provider.delete_volume(volume_id)
        return volume_id is not None

    def key_create(self) -> None:
        key = self.provider.create_ssh_key(f"fi-key-{len(self.keys)}", PUBLIC_KEY)
        self.keys.append(key["id"])

    def key_list(self) -> None:
        self.provider.get_ssh_keys()

    def key_delete(self) -> bool:
        if key_id := self.pick(self.keys):
            self.keys.remove(key_id)
            self.provider.delete_ssh_key(key_id)
        return key_id is not None


def test_mixed_operations_under_faults_raise_only_typed_errors_and_lose_or_double_nothing(
    http_sandbox, providers, figures, sandbox_bids
):
    provider = providers.provider(http_sandbox)
    provider.list_tasks()  # project and catalogue cached before the faults start
    # Quota refusals are typed outcomes too, but they would crowd out real bids.
    http_sandbox.control(
        "POST", "/quotas", json={"project": http_sandbox.project, "instance_type": A100,
                                 "total": 1000},
    )  # fmt: skip
    http_sandbox.reset_faults(seed=SEED)
    http_sandbox.control("DELETE", "/stats")
    http_sandbox.faults("* /v2/*", **FAULTS)
    run = Run(provider, random.Random(SEED))
    names, weights = zip(*MIX, strict=True)
    started = time.monotonic()

    for _ in range(OPERATIONS):
        name = run.rng.choices(names, weights)[0]
        run.do(name, getattr(run, name))

    elapsed = time.monotonic() - started
    stats = http_sandbox.stats()
    http_sandbox.reset_faults()
    faults_seen = _faults_seen(stats)
    assert run.unhandled == [], run.unhandled[0]

    # Every task the caller was given ends as asked (cancelled), and is found again.
    for task_id in run.tasks:
        provider.cancel_task(task_id)
    final = {task_id: provider.get_task(task_id).status for task_id in run.tasks}
    lost = [task_id for task_id, status in final.items() if status is not TaskStatus.CANCELLED]
    assert lost == []

    # Bids on the server: one per name, and none the caller was not told about.
    bids = sandbox_bids(http_sandbox)
    name_counts = Counter(bid["name"] for bid in bids)
    duplicates = {name: n for name, n in name_counts.items() if n > 1}
    orphans = [bid["fid"] for bid in bids if bid["fid"] not in run.tasks]
    assert duplicates == {}
    assert orphans == []
    assert len(bids) <= run.submits
    assert all(bid["status"] == "Terminated" for bid in bids)

    # The faults really happened, and 429s were waited out for their Retry-After.
    assert faults_seen["503"] > 100 and faults_seen["429"] > 40 and faults_seen["dropped"] > 10
    assert providers.sleeps.count(1.0) >= faults_seen["429"] // 2
    assert stats["count_422"] == 0
    # A 429 refuses a POST unprocessed, so submits are retried through rate limiting.
    assert run.by_operation[("submit", "RateLimitedError")] == 0
    figures(
        "fault_injection",
        {
            "seed": SEED,
            "operations": OPERATIONS,
            "seconds": round(elapsed, 1),
            "requests": stats["total"],
            "faults": faults_seen,
            "outcomes": dict(run.outcomes),
            "unhandled": len(run.unhandled),
            "submits": run.submits,
            "tasks_returned": len(run.tasks),
            "bids_on_server": len(bids),
            "duplicate_bids": len(duplicates),
            "orphan_bids": len(orphans),
            "lost_tasks": len(lost),
            "by_operation": {f"{op}:{out}": n for (op, out), n in sorted(run.by_operation.items())},
        },
    )


class LosingTransport:
    """Sends every request to the sandbox, then loses the answer of every bid POST.

    The bid exists on the server, but the client only sees a connection that broke
    after the request went out: the case the dedupe by unique name is for.
    """

    def __init__(self) -> None:
        self._inner = RequestsTransport()
        self.lost = 0

    def request(self, request: TransportRequest) -> TransportResponse:
        response = self._inner.request(request)
        if request.method == "POST" and request.url.endswith("/v2/spot/bids"):
            self.lost += 1
            raise TransportError("connection reset after the request was sent")
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_bid_whose_answer_was_lost_after_it_was_created_is_found_not_placed_again(
    http_sandbox, providers, figures, sandbox_bids
):
    transport = LosingTransport()
    client = ApiClient(http_sandbox.api_key, base_url=http_sandbox.url, transport=transport)
    provider = providers.provider(http_sandbox, api=client)

    tasks = [
        provider.submit_task("a100", TaskConfig(name=f"lost-{i}", command="sleep 600"))
        for i in range(5)
    ]

    posts = _count(http_sandbox.stats(), "POST", "/v2/spot/bids")
    bids = sandbox_bids(http_sandbox)
    assert transport.lost == 5
    assert sorted(bid["fid"] for bid in bids) == sorted(task.task_id for task in tasks)
    assert posts == 5  # each sent once: the lookup by name found it, nothing was re-sent
    assert len({bid["name"] for bid in bids}) == 5
    figures("lost_answers", {"submits": 5, "answers_lost": transport.lost, "posts": posts,
                             "bids": len(bids)})  # fmt: skip


def test_breaker_opens_under_a_full_outage_fails_fast_with_one_line_and_closes_on_recovery(
    http_sandbox, providers, figures
):
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout=1.0)
    provider = providers.provider(http_sandbox, api=providers.client(http_sandbox, breaker=breaker))
    task = provider.submit_task("a100", TaskConfig(name="outage", command="sleep 600"))
    http_sandbox.faults("* /v2/*", error_rate=1.0, error_status=503)

    for _ in range(5):  # each call's retries count once
        with pytest.raises(ProviderUnavailableError):
            provider.get_task(task.task_id)
    assert breaker.state == "open"

    http_sandbox.control("DELETE", "/stats")
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError) as failed_fast:
        provider.get_task(task.task_id)
    fail_fast_ms = (time.monotonic() - started) * 1000
    assert fail_fast_ms < 50
    assert _v2_requests(http_sandbox.stats()) == 0  # nothing reached the server
    message = str(failed_fast.value)
    assert "circuit open" in message and "try again shortly" in message and "\n" not in message

    http_sandbox.reset_faults()
    wait_for(lambda: breaker.state == "half-open", timeout=5)
    assert provider.get_task(task.task_id).task_id == task.task_id
    assert breaker.state == "closed"
    assert provider.cancel_task(task.task_id) is True
    figures(
        "circuit_breaker",
        {"threshold": 5, "cool_down_s": 1.0, "fail_fast_ms": round(fail_fast_ms, 2),
         "message": message},
    )  # fmt: skip


def _faults_seen(stats: dict[str, Any]) -> dict[str, int]:
    v2 = [row for row in stats["requests"] if row["route"].startswith("/v2/")]
    return {
        "503": sum(row["count"] for row in v2 if row["status"] == 503),
        "429": sum(row["count"] for row in v2 if row["status"] == 429),
        "dropped": sum(row["count"] for row in stats["dropped"]),
    }


def _v2_requests(stats: dict[str, Any]) -> int:
    rows = stats["requests"] + stats["dropped"]
    return sum(row["count"] for row in rows if row["route"].startswith("/v2/"))


def _count(stats: dict[str, Any], method: str, route: str) -> int:
    rows = stats["requests"] + stats["dropped"]
    return sum(row["count"] for row in rows if (row["method"], row["route"]) == (method, route))
