"""HTTP requests per operation, counted by the sandbox (``/_sandbox/stats``).

- Submitting a task once the catalogue is cached.
- ``list_tasks(limit=100)`` with more and more bids: requests and latency.

The sandbox runs without instances (``--no-instances``), so no background work of
the provider sends requests while one is counted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks.env import BenchEnv
from benchmarks.stats import Result, summarize
from flow_notebook.core.models import TaskConfig

SUBMIT_TARGET = 3
LATENCY_SPREAD = 0.25
LIVE_PER_LEVEL = 50


class TimingTransport:
    """Wraps a transport and adds up the seconds spent waiting for answers.

    Args:
        inner: The real transport.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0

    def request(self, request: Any) -> Any:
        """Sends ``request`` through the real transport, timing the wait."""
        started = time.perf_counter()
        try:
            return self._inner.request(request)
        finally:
            self.seconds += time.perf_counter() - started

    def close(self) -> None:
        """Closes the real transport."""
        self._inner.close()


def _counts(sandbox: Any) -> Counter[str]:
    return Counter(
        {
            f"{row['method']} {row['route']}": row["count"]
            for row in sandbox.stats()["requests"]
            if row["route"].startswith("/v2/")
        }
    )


def counted(sandbox: Any, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """Runs ``action``; returns its result and the API requests it sent, per route."""
    before = _counts(sandbox)
    value = action()
    after = _counts(sandbox)
    after.subtract(before)
    return value, +after


def _routes(counts: Counter[str]) -> str:
    return ", ".join(f"{route} x{n}" for route, n in sorted(counts.items())) or "none"


def submit_requests(env: BenchEnv, sandbox: Any) -> Result:
    """Counts the requests of a submit: first, cached, and a fresh provider (warm disk)."""
    provider = env.mithril(sandbox, "submit")
    config = TaskConfig(name="bench-submit", command="true")
    _, first = counted(sandbox, lambda: provider.submit_task("", config))
    warm = [counted(sandbox, lambda: provider.submit_task("", config))[1]]
    warm += [
        counted(sandbox, lambda: provider.submit_task("", config))[1]
        for _ in range(env.sizes.submit_runs - 1)
    ]
    fresh = env.mithril(sandbox, "submit")  # same FLOW_HOME: a new kernel, disk caches warm
    _, fresh_counts = counted(sandbox, lambda: fresh.submit_task("", config))
    totals = [sum(c.values()) for c in warm]
    worst = max(totals)
    return Result(
        what="HTTP requests to submit a task (catalogue cached)",
        target=f"<= {SUBMIT_TARGET}",
        measured=f"{worst} (max of {len(totals)} submits); first ever submit: "
        f"{sum(first.values())}; new provider, warm disk cache: {sum(fresh_counts.values())}",
        met=worst <= SUBMIT_TARGET,
        details=[
            f"- cached submit: {_routes(warm[-1])}",
            f"- first submit of a provider with an empty `FLOW_HOME`: {_routes(first)}",
            f"- first submit of a new provider, same `FLOW_HOME` (a restarted kernel): "
            f"{_routes(fresh_counts)}",
        ],
    )


def list_scaling(env: BenchEnv, sandbox: Any) -> list[Result]:
    """Times and counts ``list_tasks(limit=100)`` as the sandbox's bids grow."""
    from flow_notebook.providers.mithril.api import ApiClient
    from flow_notebook.providers.mithril.api.transport import RequestsTransport

    timer = TimingTransport(RequestsTransport())
    config = env.mithril_config(sandbox, "list")
    provider = env.mithril(sandbox, "list", api=ApiClient.from_config(config, transport=timer))
    provider.list_tasks(limit=100)  # project id and catalogue cached from here on
    seeded = 0
    levels: list[dict[str, Any]] = []
    for count in env.sizes.bid_counts:
        # Old finished bids, then a few live ones on top, so every level's newest page
        # holds live bids and needs the batched instance lookup.
        live = min(LIVE_PER_LEVEL, count // 2)
        sandbox.seed(count - seeded - live, status="Terminated")
        sandbox.seed(live, status="Paused")
        seeded = count
        provider.list_tasks(limit=100)  # the catalogue is cached before anything is counted
        tasks, requests = counted(sandbox, lambda: provider.list_tasks(limit=100))
        seconds, client = [], []
        for _ in range(env.sizes.list_runs):
            started, cpu = time.perf_counter(), time.thread_time()
            provider.list_tasks(limit=100)
            seconds.append(time.perf_counter() - started)
            client.append(time.thread_time() - cpu)
        live_shown = sum(1 for task in tasks if not task.is_terminal)
        levels.append({"bids": count, "requests": requests, "tasks": len(tasks),
                       "live": live_shown, "summary": summarize(seconds),
                       "client": summarize(client)})  # fmt: skip
    totals = [sum(level["requests"].values()) for level in levels]
    per_task = any(
        n.get("GET /v2/spot/bids/{bid_fid}", 0) or n.get("GET /v2/spot/bids/{bid_fid}/status", 0)
        for n in (level["requests"] for level in levels)
    )
    medians = [level["summary"].p50 for level in levels]
    base = medians[0]
    spread = max(abs(m - base) / base for m in medians)
    counts_text = " / ".join(str(t) for t in totals)
    bids_text = " / ".join(f"{level['bids']:,}" for level in levels)
    latency_text = " / ".join(f"{m * 1000:.1f}" for m in medians)
    client = [level["client"].p50 for level in levels]
    client_spread = max(abs(c - client[0]) / client[0] for c in client)
    details = [
        "| bids | tasks shown (live) | requests | routes | latency | client CPU time |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {level['bids']:,} | {level['tasks']} ({level['live']}) | "
            f"{sum(level['requests'].values())} | {_routes(level['requests'])} | "
            f"{level['summary'].show(1000)} | {level['client'].show(1000)} |"
            for level in levels
        ),
        "",
        "Client CPU time: CPU time of the listing thread (sending, parsing, building the "
        "tasks); waiting for the answers costs none, and other processes on the machine "
        "barely move it. Wall time spent waiting for answers, all levels: "
        f"{timer.seconds:.2f} s.",
    ]
    return [
        Result(
            what=f"HTTP requests for `list_tasks(limit=100)` with {bids_text} bids",
            target="constant in the number of bids (pages + one batched instance lookup)",
            measured=f"{counts_text} requests; per-task requests: {'yes' if per_task else 'none'}",
            met=len(set(totals)) == 1 and not per_task,
            details=details,
        ),
        Result(
            what=f"`list_tasks(limit=100)` latency, {bids_text} bids",
            target="within +-25% from the fewest to the most bids",
            measured=f"p50 {latency_text} ms (largest change {spread * 100:+.0f}%); "
            f"client CPU p50 "
            + " / ".join(f"{c * 1000:.1f}" for c in client)
            + f" ms ({client_spread * 100:+.0f}%)",
            met=spread <= LATENCY_SPREAD,
            details=["See the table of the row above."],
            note="Judged end to end (wall time of the whole call against the sandbox); the "
            "client's CPU time is shown beside it.",
        ),
    ]


def run(env: BenchEnv) -> list[Result]:
    """Counts requests of submit and list on a sandbox without instances."""
    sandbox = env.start_sandbox("requests", "--no-instances")
    return [submit_requests(env, sandbox), *list_scaling(env, sandbox)]
