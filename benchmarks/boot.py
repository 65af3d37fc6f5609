"""Instance boot and teardown on the sandbox: a bid placed -> its sshd answers; DELETE -> gone.

Each instance is a whole machine (its own overlay root, accounts, sshd), so its boot
is on the path of every test and notebook that runs on the sandbox. Boot time is
measured from the ``POST /v2/spot/bids`` to the SSH banner at the published
``ssh_destination``; teardown from the ``DELETE`` to the instance's processes and
disk being gone, which includes the shutdown grace a terminated instance gets
(``SHUTDOWN_SECONDS``, as a real VM keeps running while it shuts down).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from benchmarks.env import BenchEnv, wait_until
from benchmarks.stats import Result, summarize
from flow_notebook.sandbox.lifecycle import SHUTDOWN_SECONDS
from flow_notebook.sandbox.procs import pids_in_namespace

BOOT_TARGET = 1.0
TEARDOWN_TARGET = SHUTDOWN_SECONDS + 0.5
TIMEOUT = 30.0


def _banner(destination: str | None) -> bool:
    if not destination:
        return False
    host, port = destination.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _boot(sandbox: Any) -> tuple[float, dict[str, Any], str]:
    started = time.perf_counter()
    bid = sandbox.place_bid(price="$99.00", script="true")

    def answering() -> dict[str, Any] | None:
        running = sandbox.running_instances(bid["fid"], timeout=TIMEOUT)
        return running[0] if _banner(running[0]["ssh_destination"]) else None

    instance = wait_until(answering, TIMEOUT, "an instance's sshd", interval=0.01)
    return time.perf_counter() - started, instance, bid["fid"]


def _teardown(sandbox: Any, bid_fid: str, instance_fid: str) -> float:
    home = sandbox.root / "instances" / instance_fid
    namespace = (home / "pidns").read_text().strip()
    started = time.perf_counter()
    sandbox.api("DELETE", f"/v2/spot/bids/{bid_fid}")

    def gone() -> bool:
        return not pids_in_namespace(namespace) and not (home / "upper").exists()

    wait_until(gone, TIMEOUT, "an instance's processes and disk", interval=0.05)
    return time.perf_counter() - started


def run(env: BenchEnv) -> list[Result]:
    """Boots and terminates instances one after another on one sandbox."""
    sandbox = env.start_sandbox("boot")
    boots, teardowns = [], []
    for _ in range(env.sizes.boot_runs):
        seconds, instance, bid_fid = _boot(sandbox)
        boots.append(seconds)
        teardowns.append(_teardown(sandbox, bid_fid, instance["fid"]))
    boot, teardown = summarize(boots), summarize(teardowns)
    return [
        Result(
            what="sandbox instance: bid placed -> sshd answers; DELETE -> processes, disk gone",
            target=f"boot p50 <= {BOOT_TARGET * 1000:.0f} ms; teardown p50 <= the"
            f" {SHUTDOWN_SECONDS:.1f} s shutdown grace + 500 ms",
            measured=f"boot p50 {boot.p50 * 1000:.0f} ms;"
            f" teardown p50 {teardown.p50 * 1000:.0f} ms",
            met=boot.p50 <= BOOT_TARGET and teardown.p50 <= TEARDOWN_TARGET,
            details=[
                f"- boot ({len(boots)} instances, one at a time): {boot.show(1000, digits=0)}",
                f"- teardown: {teardown.show(1000, digits=0)}",
                "- boot includes the market's allocation tick (0.1 s) and the client's polling"
                " (10 ms); the instance itself mounts its overlay root, writes its accounts and"
                " sshd host key, and starts sshd",
            ],
        )
    ]
