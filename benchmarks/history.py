"""`%flow list` and a dashboard redraw as stored task history grows (local provider).

The local provider's task store is filled with ended tasks (records as the
provider writes them), first ``history_small`` then ``history_large`` in all. At
each size, ``%flow list`` runs in an IPython shell with the extension loaded, and
the widget dashboard refreshes (lists its page of tasks and redraws). Both should
stay flat as history grows: the user sees the newest tasks, whatever is stored.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.env import BenchEnv
from benchmarks.stats import Result, Summary, summarize

LIST_TARGET = 0.300
REDRAW_TARGET = 0.050
GROWTH = 0.25
SLACK = 0.010
"""Largest change allowed from the small history to the large one: +25% or 10 ms (at a
few milliseconds, scheduling noise alone is more than 25%)."""


def _timed(action: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    action()
    return time.perf_counter() - wall, time.thread_time() - cpu


def _seed(home: Path, start: int, stop: int) -> None:
    """Stores ended tasks ``start`` .. ``stop - 1``, one a minute back from now."""
    from flow_notebook.core.models import TaskStatus
    from flow_notebook.providers.local.store import TaskRecord, TaskStore

    store = TaskStore(home / "local" / "store")
    now = datetime.now(timezone.utc)
    try:
        for number in range(start, stop):
            created = now - timedelta(minutes=number + 10)
            store.put(
                TaskRecord(
                    task_id=f"local-{number:012x}",
                    name=f"old-{number}",
                    created_at=created,
                    command="python3 train.py",
                    instance_type="cpu-2",
                    task_dir=str(home / "local" / "tasks" / f"local-{number:012x}"),
                    work_dir=str(home / "work"),
                    final_status=TaskStatus.COMPLETED,
                    exit_code=0,
                    started_at=created,
                    completed_at=created + timedelta(seconds=30),
                )
            )
    finally:
        store.close()


def _measure(shell: Any, runs: int) -> tuple[Summary, Summary, Summary, float]:
    """Times ``%flow list`` (wall) and dashboard refreshes (CPU, wall); first refresh CPU."""
    from flow_notebook.notebook.widgets.dashboard import DashboardModel
    from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard

    def flow_list() -> None:
        with redirect_stdout(io.StringIO()):
            shell.run_line_magic("flow", "list")

    flow_list()  # the provider is built once per kernel; that is not the listing's cost
    lists = [_timed(flow_list)[0] for _ in range(runs)]
    session = shell.magics_manager.registry["FlowMagics"].session
    # What `%flow dashboard` builds: the session's providers, as configured.
    dashboard = WidgetDashboard(DashboardModel(lambda: session.each_provider(None)))
    try:
        first = _timed(dashboard.refresh)[1]
        redraws = [_timed(dashboard.refresh) for _ in range(runs)]
    finally:
        dashboard.close()
    return (
        summarize(lists),
        summarize([cpu for _, cpu in redraws]),
        summarize([wall for wall, _ in redraws]),
        first,
    )


def run(env: BenchEnv) -> list[Result]:
    """Measures at the small and the large history; one row for each measurement."""
    import os

    from IPython.core.interactiveshell import InteractiveShell

    small, large = env.sizes.history_small, env.sizes.history_large
    home = env.home("history")
    os.environ["FLOW_HOME"] = str(home)
    _seed(home, 0, small)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "flow_notebook")
    env.on_close(lambda: shell.run_line_magic("unload_ext", "flow_notebook"))
    runs = env.sizes.history_runs
    at_small = _measure(shell, runs)
    seeding = time.perf_counter()
    _seed(home, small, large)
    seeding = time.perf_counter() - seeding
    at_large = _measure(shell, runs)

    def growth(index: int) -> float:
        return at_large[index].p50 / at_small[index].p50 - 1

    def flat(index: int) -> bool:
        small_p50 = at_small[index].p50
        return at_large[index].p50 <= max(small_p50 * (1 + GROWTH), small_p50 + SLACK)

    details = [
        f"- stored ended tasks: {small:,}, then {large:,} (seeding the rest took {seeding:.1f} s)",
        f"- `%flow list` wall at {small:,}: {at_small[0].show(1000)}",
        f"- `%flow list` wall at {large:,}: {at_large[0].show(1000)}",
        f"- dashboard refresh CPU at {small:,}: {at_small[1].show(1000)}; first draw "
        f"{at_small[3] * 1000:.0f} ms",
        f"- dashboard refresh CPU at {large:,}: {at_large[1].show(1000)}; first draw "
        f"{at_large[3] * 1000:.0f} ms",
        f"- dashboard refresh wall at {large:,}: {at_large[2].show(1000)}",
    ]
    return [
        Result(
            what=f"`%flow list` with {large:,} stored task records (local provider)",
            target=f"<= {LIST_TARGET * 1000:.0f} ms; within +{GROWTH:.0%} "
            f"(or +{SLACK * 1000:.0f} ms) of {small:,} records",
            measured=f"p50 {at_large[0].p50 * 1000:.0f} ms (at {small:,}: "
            f"{at_small[0].p50 * 1000:.0f} ms, {growth(0):+.0%})",
            met=at_large[0].p50 <= LIST_TARGET and flat(0),
            note="The listing shows the newest tasks; what it costs should not grow with "
            "the ended tasks kept in the store. The local store keeps a newest-first index "
            "(one key per record), so a listing reads as many records as it shows; before "
            "it, the same run measured 37.7 s for `%flow list` and 8.1 s of kernel CPU per "
            "dashboard refresh at 100,000 records.",
            details=details,
        ),
        Result(
            what=f"dashboard redraw with {large:,} stored task records (local provider)",
            target=f"<= {REDRAW_TARGET * 1000:.0f} ms of kernel time per refresh; "
            f"within +{GROWTH:.0%} (or +{SLACK * 1000:.0f} ms) of {small:,} records",
            measured=f"CPU p50 {at_large[1].p50 * 1000:.0f} ms (at {small:,}: "
            f"{at_small[1].p50 * 1000:.0f} ms, {growth(1):+.0%})",
            met=at_large[1].p50 <= REDRAW_TARGET and flat(1),
            note="Details under the `%flow list` row above.",
        ),
    ]
