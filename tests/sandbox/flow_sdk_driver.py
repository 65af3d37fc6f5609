"""Drives Mithril's own SDK (flow-compute) through one task's life; run as a subprocess.

Usage: ``python flow_sdk_driver.py '<json plan>'`` with the SDK configured the way a user
configures it (``MITHRIL_API_URL``, ``MITHRIL_API_KEY``, ``MITHRIL_PROJECT``,
``MITHRIL_SSH_KEY``, ``HOME``). The plan names the instance type, region, price cap, command
and the remote command. Prints one JSON line per step: ``{"step", "ok", "value"|"error"}``.
Nothing here adapts the SDK: only its public client (``flow.Flow``) is called.

A submitted task is always cancelled before exit, whatever failed in between.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

LOG_WAIT_SECONDS = 150.0
TERMINAL = ("completed", "failed", "cancelled")
END_WAIT_SECONDS = 120.0


def report(step: str, action: Callable[[], Any]) -> Any:
    """Runs one step, prints its outcome; returns its value or ``None`` when it raised."""
    started = time.monotonic()
    try:
        value = action()
    except Exception as error:  # noqa: BLE001 - every SDK failure is the step's result
        line = {
            "step": step,
            "ok": False,
            "error": f"{type(error).__name__}: {error}",
            "trace": traceback.format_exc()[-4000:],
        }
        value = None
    else:
        line = {"step": step, "ok": True, "value": value}
    line["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(line, default=str), flush=True)
    return value if line["ok"] else None


def wait_for_log(flow: Any, task_id: str, marker: str) -> str:
    """Returns the task's log once it shows ``marker`` (logs lag the task's start)."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    last: str | BaseException = ""
    while time.monotonic() < deadline:
        try:
            last = flow.logs(task_id, tail=200)
        except Exception as error:  # noqa: BLE001 - "not ready yet" is retried, like a user would
            last = error
        if isinstance(last, str) and marker in last:
            return last
        time.sleep(2)
    if isinstance(last, BaseException):
        raise last
    raise TimeoutError(f"{marker!r} not in the log within {LOG_WAIT_SECONDS} s: {last[-500:]!r}")


def task_view(task: Any) -> dict[str, Any]:
    """The task handle's fields the test checks."""
    return {
        "task_id": task.task_id,
        "status": str(getattr(task.status, "value", task.status)),
        "instance_type": task.instance_type,
        "region": task.region,
        "ssh_host": task.ssh_host,
        "ssh_port": task.ssh_port,
        "ssh_user": task.ssh_user,
    }


def cancel_named(flow: Any, name: str) -> None:
    """Cancels every live task whose name starts with ``name`` (a submit that raised)."""
    for task in flow.list_tasks(limit=50, force_refresh=True):
        if task.name.startswith(name) and flow.status(task.task_id) not in TERMINAL:
            flow.cancel(task.task_id)


def submit(flow: Any, plan: dict[str, Any], step: str, **options: Any) -> dict[str, Any] | None:
    """Runs ``plan``'s command as a task and waits until it runs; ``None`` when that failed."""
    from flow import TaskConfig

    config = TaskConfig(
        name=plan["name"] + options.pop("suffix", ""),
        instance_type=plan["instance_type"],
        region=plan["region"],
        max_price_per_hour=plan["max_price"],
        command=options.pop("command", plan["command"]),
        env=plan["env"],
        upload_code=False,
        **options,
    )
    task = report(
        step, lambda: task_view(flow.run(config, wait_until="running", max_wait_seconds=180))
    )
    if task is None:
        cancel_named(flow, config.name)
    return task


def wait_until_ended(flow: Any, task_id: str) -> str:
    """Returns the task's status once it is terminal (nobody but the task ends it here)."""
    deadline = time.monotonic() + END_WAIT_SECONDS
    while (status := flow.status(task_id)) not in TERMINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {status!r} after {END_WAIT_SECONDS} s")
        time.sleep(2)
    return status


def ensure_ended(flow: Any, task_id: str) -> None:
    """Cancels the task unless it ended: never leave a task billed, whatever failed."""
    if flow.status(task_id) not in TERMINAL:
        flow.cancel(task_id)


def follow_and_cancel(flow: Any, plan: dict[str, Any]) -> None:
    """Submit, status, logs and a command over SSH, cancel, status."""
    task = submit(flow, plan, "submit")
    if task is None:
        return
    task_id = task["task_id"]
    try:
        report("status_running", lambda: flow.status(task_id))
        report("logs", lambda: wait_for_log(flow, task_id, plan["log_marker"]))
        report(
            "remote_command",
            lambda: flow.shell(task_id, plan["remote_command"], capture_output=True),
        )
        report("cancel", lambda: flow.cancel(task_id))
    finally:
        report("status_after_cancel", lambda: flow.status(task_id))
        ensure_ended(flow, task_id)


def terminate_on_exit(flow: Any, plan: dict[str, Any]) -> None:
    """A short task with ``terminate_on_exit``: the SDK's watcher on the instance ends it."""
    options = {"suffix": "-exit", "command": plan["short_command"], "terminate_on_exit": True}
    task = submit(flow, plan, "exit_submit", **options)
    if task is None:
        return
    try:
        report("exit_status", lambda: wait_until_ended(flow, task["task_id"]))
    finally:
        ensure_ended(flow, task["task_id"])


def main(plan: dict[str, Any]) -> None:
    """Runs every step of ``plan`` in order."""
    from flow import Flow

    flow = Flow()
    try:
        report("projects", lambda: [p["id"] for p in flow.identity.list_projects()])
        report(
            "instance_types",
            lambda: {fid: list(row[:2]) for fid, row in flow.pricing.instance_types().items()},
        )
        report(
            "availability",
            lambda: [
                {
                    "region": row.region,
                    "instance_type": row.instance_type,
                    "price": row.price_per_instance_hour,
                    "available": row.available_instances,
                }
                for row in flow.pricing.market(instance_type=plan["family"])
            ],
        )
        follow_and_cancel(flow, plan)
        terminate_on_exit(flow, plan)
    finally:
        flow.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
