"""Output volume through the follow engine, in a real kernel, as a front end would get it.

A kernel (``jupyter_client``) on the local provider runs ``%flow run --follow`` and
``%%flow run`` + ``%flow wait`` of tasks that print 1,000,000 lines or 100 MB without a
newline. Every iopub message is kept: the outputs are rebuilt as a saved notebook
(stream outputs merged, displays updated, the final widget state included) to get its
size, the lines it shows are checked against what the task printed (nothing lost or
repeated among those shown; the note counts the rest), and the message and byte rates
are compared with Jupyter server's iopub limits (1,000 messages/s, 1 MB/s over 3 s).
Kernel memory is sampled from ``/proc`` while the cell runs. In-process rows: 100
idle followers' CPU, and how fast ``stop`` ends a follow of a silent task.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cellrun import Kernel
from benchmarks.env import BenchEnv
from benchmarks.stats import Result, summarize

LINES_FULL, LINES_QUICK = 1_000_000, 20_000
BYTES_FULL, BYTES_QUICK = 100 * 1024 * 1024, 5 * 1024 * 1024
FOLLOWERS_FULL, FOLLOWERS_QUICK = 100, 10
RSS_LINES_MB, RSS_GIANT_MB, NOTEBOOK_MB, GIANT_SECONDS = 100, 150, 2.0, 5.0
IDLE_CPU_SHARE, STOP_SECONDS = 0.05, 0.100
MSG_RATE, DATA_RATE, RATE_WINDOW = 1000, 1_000_000, 3.0
_HIDDEN = re.compile(r"\.\.\. (\d+) lines? not shown here")


@dataclass
class Collected:
    """What a front end received while cells ran, and the kernel's memory meanwhile."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    seconds: float = 0.0
    rss_before: int = 0
    rss_peak: int = 0

    @property
    def rss_growth_mb(self) -> float:
        return max(0, self.rss_peak - self.rss_before) / 1024 / 1024


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def run_cells(kernel: Kernel, cells: list[str], timeout: float = 900) -> Collected:
    """Runs ``cells`` one after the other; keeps every iopub message until the last is idle."""
    pid = kernel.manager.provisioner.pid
    kernel._drain()
    found = Collected(rss_before=_rss(pid))
    found.rss_peak = found.rss_before
    started = time.monotonic()
    for code in cells:
        msg_id = kernel.client.execute(code)
        idle = False
        while not idle:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"cell did not finish within {timeout} s")
            try:
                message = kernel.client.get_iopub_msg(timeout=0.05)
            except Exception:  # noqa: BLE001 - queue.Empty: sample memory and go on
                found.rss_peak = max(found.rss_peak, _rss(pid))
                continue
            found.messages.append((time.monotonic(), message))
            found.rss_peak = max(found.rss_peak, _rss(pid))
            idle = (
                message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"
                and message["parent_header"].get("msg_id") == msg_id
            )
    time.sleep(0.5)  # Late widget updates from the follow's thread.
    while True:
        try:
            found.messages.append((time.monotonic(), kernel.client.get_iopub_msg(timeout=0.2)))
        except Exception:  # noqa: BLE001 - queue.Empty: all received
            break
    found.seconds = time.monotonic() - started
    return found


def saved_notebook(collected: Collected) -> dict[str, Any]:
    """The notebook a front end would save from these messages (widget state included)."""
    import nbformat

    outputs: list[Any] = []
    displays: dict[str, int] = {}
    widgets: dict[str, dict[str, Any]] = {}
    for _, message in collected.messages:
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            if (
                outputs
                and outputs[-1].get("output_type") == "stream"
                and outputs[-1]["name"] == content["name"]
            ):
                outputs[-1]["text"] += content["text"]
            else:
                outputs.append(nbformat.v4.output_from_msg(message))
        elif kind in ("display_data", "execute_result", "error"):
            outputs.append(nbformat.v4.output_from_msg(message))
            display_id = content.get("transient", {}).get("display_id")
            if display_id:
                displays[display_id] = len(outputs) - 1
        elif kind == "update_display_data":
            index = displays.get(content.get("transient", {}).get("display_id"))
            if index is not None:
                outputs[index] = nbformat.v4.new_output(
                    "display_data", data=content["data"], metadata=content["metadata"]
                )
        elif kind == "comm_open":
            data = content["data"]
            widgets[content["comm_id"]] = {
                "model_name": data["state"].get("_model_name"),
                "model_module": data["state"].get("_model_module"),
                "model_module_version": data["state"].get("_model_module_version"),
                "state": dict(data["state"]),
            }
        elif kind == "comm_msg" and content["data"].get("method") == "update":
            widget = widgets.get(content["comm_id"])
            if widget is not None:
                widget["state"].update(content["data"]["state"])
        elif kind == "comm_close":
            widgets.pop(content["comm_id"], None)
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%%flow run ...")
    cell.outputs = outputs
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "version_major": 2,
            "version_minor": 0,
            "state": widgets,
        }
    }
    return notebook


def notebook_bytes(notebook: dict[str, Any]) -> int:
    """The size of the notebook as written to disk."""
    import nbformat

    return len(nbformat.writes(nbformat.from_dict(notebook)).encode())


def rates(collected: Collected) -> tuple[float, float]:
    """Highest iopub messages/s over any 1 s, and bytes/s over any 3 s window."""
    times = [at for at, message in collected.messages if message["msg_type"] != "status"]
    sizes = [
        len(json.dumps(message["content"]))
        for _, message in collected.messages
        if message["msg_type"] != "status"
    ]
    most_msgs, most_bytes = 0, 0
    window: deque[int] = deque()
    data: deque[tuple[float, int]] = deque()
    total = 0
    for index, at in enumerate(times):
        window.append(index)
        while times[window[0]] < at - 1.0:
            window.popleft()
        most_msgs = max(most_msgs, len(window))
        data.append((at, sizes[index]))
        total += sizes[index]
        while data[0][0] < at - RATE_WINDOW:
            total -= data.popleft()[1]
        most_bytes = max(most_bytes, total)
    return most_msgs, most_bytes / RATE_WINDOW


def check_plain_lines(text: str, count: int) -> tuple[int, int, str | None]:
    """Checks printed numbers: a run from 0, a note of N hidden, a run ending at count-1.

    Returns:
        ``(shown, hidden, problem)``: lines shown, lines the note says are hidden, and
        what is wrong (``None``: every shown line is right and nothing is unaccounted).
    """
    numbers = [int(line) for line in text.splitlines() if line.isdigit()]
    found = _HIDDEN.search(text)
    hidden = int(found.group(1)) if found else 0
    head = 0
    while head < len(numbers) and numbers[head] == head:
        head += 1
    tail = numbers[head:]
    if tail and tail != list(range(count - len(tail), count)):
        return len(numbers), hidden, "the last lines shown are not the task's last lines"
    if len(numbers) + hidden != count:
        return len(numbers), hidden, f"{count - len(numbers) - hidden} lines unaccounted for"
    return len(numbers), hidden, None


def check_view_lines(notebook: dict[str, Any], count: int) -> tuple[int, int, str | None]:
    """Checks the live view's pages (saved widget state) the same way."""
    state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    pages = {key: w for key, w in state.items() if w["model_name"] == "OutputModel"}
    order: list[str] = []
    for widget in state.values():
        children = [c.removeprefix("IPY_MODEL_") for c in widget["state"].get("children", [])]
        if children and all(child in pages for child in children) and len(children) > len(order):
            order = children
    text = "".join(o.get("text", "") for key in order for o in pages[key]["state"]["outputs"])
    numbers = [int(line) for line in text.splitlines() if line.isdigit()]
    headers = " ".join(
        w["state"].get("value", "") for w in state.values() if w["model_name"] == "HTMLModel"
    )
    found = _HIDDEN.search(headers)
    hidden = int(found.group(1)) if found else 0
    if numbers != list(range(count - len(numbers), count)):
        return len(numbers), hidden, "the lines shown are not the task's last lines in order"
    if len(numbers) + hidden != count:
        return len(numbers), hidden, f"{count - len(numbers) - hidden} lines unaccounted for"
    return len(numbers), hidden, None


def _stream_text(collected: Collected) -> str:
    return "".join(
        m["content"]["text"]
        for _, m in collected.messages
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def _volume_row(what: str, collected: Collected, count: int, view: bool) -> Result:
    notebook = saved_notebook(collected)
    size = notebook_bytes(notebook) / 1024 / 1024
    if view:
        shown, hidden, problem = check_view_lines(notebook, count)
    else:
        shown, hidden, problem = check_plain_lines(_stream_text(collected), count)
    msgs, data = rates(collected)
    growth = collected.rss_growth_mb
    met = (
        problem is None
        and growth <= RSS_LINES_MB
        and size <= NOTEBOOK_MB
        and msgs <= MSG_RATE
        and data <= DATA_RATE
    )
    return Result(
        what=what,
        target=(
            f"lines lost 0 of those shown; kernel RSS growth <= {RSS_LINES_MB} MB; "
            f"notebook <= {NOTEBOOK_MB:g} MB; iopub within 1,000 msg/s and 1 MB/s"
        ),
        measured=(
            f"lost {0 if problem is None else problem}; {shown:,} shown + {hidden:,} noted "
            f"as not shown; RSS +{growth:.0f} MB; notebook {size:.2f} MB; "
            f"peak {msgs:.0f} msg/s, {data / 1e6:.2f} MB/s; {collected.seconds:.1f} s"
        ),
        met=met,
    )


def _giant_row(what: str, collected: Collected, total: int) -> Result:
    size = notebook_bytes(saved_notebook(collected)) / 1024 / 1024
    growth = collected.rss_growth_mb
    msgs, data = rates(collected)
    met = (
        collected.seconds <= GIANT_SECONDS
        and growth <= RSS_GIANT_MB
        and size <= NOTEBOOK_MB
        and data <= DATA_RATE
    )
    return Result(
        what=what,
        target=f"<= {GIANT_SECONDS:g} s; kernel RSS growth <= {RSS_GIANT_MB} MB; --keep-kb applies",
        measured=(
            f"{collected.seconds:.1f} s for {total / 1024 / 1024:.0f} MB; RSS +{growth:.0f} MB; "
            f"notebook {size:.2f} MB; peak {msgs:.0f} msg/s, {data / 1e6:.2f} MB/s"
        ),
        met=met,
    )


def idle_followers(env: BenchEnv, count: int, seconds: float = 10.0) -> Result:
    """CPU of ``count`` live cell views following silent local tasks, in this process."""
    from flow_notebook.core.config import load_config
    from flow_notebook.core.models import TaskConfig
    from flow_notebook.notebook.follow import Follow, FollowOptions
    from flow_notebook.notebook.positions import LogPositions
    from flow_notebook.notebook.surfaces import CellView
    from flow_notebook.providers.local import LocalProvider

    provider = LocalProvider.from_config(load_config({"FLOW_HOME": str(env.home("idle"))}))
    env.on_close(provider.close)
    positions = LogPositions(env.scratch("idle") / "positions")
    follows = []
    try:
        for _ in range(count):
            task = provider.submit_task("", TaskConfig(command=["sleep", "600"]))
            view = CellView(task.task_id, display=lambda *args, **kwargs: None)
            follows.append(Follow(provider, task, view, positions, FollowOptions()).start())
        time.sleep(3.0)  # Past the first reads and status refreshes.
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(seconds)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        stops = []
        for follow in follows:
            started = time.perf_counter()
            follow.stop("benchmark over")
            follow.wait(5)
            stops.append(time.perf_counter() - started)
    finally:
        for follow in follows:
            follow.stop("benchmark over")
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    share = cpu / seconds
    stop = summarize(stops)
    return Result(
        what=f"{count} idle `%%flow run` views (silent local tasks): CPU; stop of a silent follow",
        target=(
            f"< {IDLE_CPU_SHARE:.0%} of a core; "
            f"stop ends the follow <= {STOP_SECONDS * 1000:.0f} ms"
        ),
        measured=(
            f"{share:.1%} of a core over {seconds:.0f} s; stop p50 {stop.p50 * 1000:.1f} ms "
            f"(max {stop.high * 1000:.1f} ms)"
        ),
        met=share < IDLE_CPU_SHARE and stop.high <= STOP_SECONDS,
    )


def run(env: BenchEnv) -> list[Result]:
    """The volume rows: lines and a giant line through both views; idle followers."""
    quick = env.sizes.cell_runs <= 1
    lines = LINES_QUICK if quick else LINES_FULL
    total = BYTES_QUICK if quick else BYTES_FULL
    python = sys.executable
    kernel = Kernel(env)
    env.on_close(kernel.close)
    kernel.execute("%load_ext flow_notebook")
    print_lines = f"for i in range({lines}): print(i)"
    giant = f"import sys; [sys.stdout.write('x' * 65536) for _ in range({total // 65536})]"
    results = [
        _volume_row(
            f"{lines:,} lines through `%flow run --follow`",
            run_cells(kernel, [f'%flow run --follow -- {python} -c "{print_lines}"']),
            lines,
            view=False,
        ),
        _volume_row(
            f"{lines:,} lines through `%%flow run` (live view, then `%flow wait`)",
            run_cells(kernel, [f"%%flow run --name volume\n{print_lines}\n", "%flow wait"]),
            lines,
            view=True,
        ),
        _giant_row(
            f"{total // 1024 // 1024} MB without a newline through `%flow run --follow`",
            run_cells(kernel, [f'%flow run --follow -- {python} -c "{giant}"']),
            total,
        ),
        _giant_row(
            f"{total // 1024 // 1024} MB without a newline through `%%flow run` + `%flow wait`",
            run_cells(kernel, [f"%%flow run --name giant\n{giant}\n", "%flow wait"]),
            total,
        ),
    ]
    results.append(idle_followers(env, FOLLOWERS_QUICK if quick else FOLLOWERS_FULL))
    return results
