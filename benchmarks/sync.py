"""Re-sync cost: change one file of a 50 MB, 500-file tree and sync again.

Both upload strategies run side by side against one sandbox instance, each into
its own directory with its own manifest, so each first upload is a full one. The
provider's own ``sync_code`` (what ``%flow sync`` calls) is timed too.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.env import BenchEnv, wait_until
from benchmarks.stats import Result, summarize
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.domain import code_upload as cu
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer

BYTES_SHARE = 0.01
SECONDS_TARGET = 0.5
CHANGE_BYTES = 100


def make_tree(root: Path, total_bytes: int, files: int) -> list[Path]:
    """Writes ``files`` incompressible files adding up to ``total_bytes``; returns them."""
    size = total_bytes // files
    paths = []
    for index in range(files):
        path = root / f"pkg{index % 10}" / f"module_{index:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def change_one(path: Path) -> None:
    """Overwrites ``CHANGE_BYTES`` in the middle of ``path`` (its size stays)."""
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(os.urandom(CHANGE_BYTES))


def _strategy_run(
    env: BenchEnv, ops: Any, task_id: str, tree: Path, files: list[Path], name: str
) -> dict[str, Any]:
    slug = name.replace(", ", "-").replace(" ", "-")
    manifest = f"/var/log/flow/bench-{slug}-manifest.json"
    remote_root = f"/workspace/bench-{slug}"
    if name == "sftp":
        strategy: Any = cu.SftpStrategy(ops, manifest_path=manifest)
    else:
        # As wired in the provider: one shared ssh connection; "rsync, new ssh" without.
        multiplexer = SSHMultiplexer()
        env.on_close(multiplexer.close)
        options = multiplexer.options if name == "rsync" else None
        strategy = cu.RsyncStrategy(ops, manifest_path=manifest, ssh_options=options)
    service = cu.CodeUploadService([strategy], ops, remote_root=remote_root)
    first = service.sync(task_id, tree)
    resyncs, seconds = [], []
    for index in range(env.sizes.resync_runs):
        changed = files[(index * 37) % len(files)]
        change_one(changed)
        started = time.perf_counter()
        resyncs.append(service.sync(task_id, tree))
        seconds.append(time.perf_counter() - started)
        rel = changed.relative_to(tree).as_posix()
        remote = ops.execute_command(task_id, f"sha256sum {remote_root}/{rel}", 30).split()[0]
        if remote != hashlib.sha256(changed.read_bytes()).hexdigest():
            raise AssertionError(f"{name}: {rel} differs on the instance after the re-sync")
    return {"first": first, "resyncs": resyncs, "seconds": summarize(seconds)}


def _provider_sync(env: BenchEnv, provider: Any, task_id: str, tree: Path, files: list[Path]):
    provider.sync_code(task_id, tree)
    seconds = []
    for index in range(env.sizes.resync_runs):
        change_one(files[(index * 53) % len(files)])
        started = time.perf_counter()
        provider.sync_code(task_id, tree)
        seconds.append(time.perf_counter() - started)
    return summarize(seconds)


def run(env: BenchEnv) -> list[Result]:
    """Uploads a tree by rsync and by SFTP, then re-syncs after one-file changes."""
    tree = env.scratch("sync-tree")
    files = make_tree(tree, env.sizes.tree_bytes, env.sizes.tree_files)
    sandbox = env.start_sandbox("sync")
    provider = env.mithril(sandbox, "sync")
    task = provider.submit_task("", TaskConfig(name="bench-sync", command="sleep 900"))
    wait_until(
        lambda: provider.get_task(task.task_id).status.value == "running", 60, "task running"
    )
    ops = provider.get_remote_operations()
    runs = {name: _strategy_run(env, ops, task.task_id, tree, files, name)
            for name in ("rsync", "rsync, new ssh", "sftp")}  # fmt: skip
    provider_seconds = _provider_sync(env, provider, task.task_id, tree, files)
    provider.cancel_task(task.task_id)
    details = [
        f"Tree: {len(files)} files, {env.sizes.tree_bytes / 1e6:.1f} MB of random bytes; "
        f"each re-sync follows a {CHANGE_BYTES}-byte change inside one file.",
        "",
        "| strategy | first upload | re-sync bytes sent (max) | share of first | re-sync time |",
        "| --- | --- | --- | --- | --- |",
    ]
    verdicts, figures = [], []
    for name, data in runs.items():
        first = data["first"]
        sent = max(stats.bytes_sent for stats in data["resyncs"])
        share = sent / first.bytes_sent
        seconds = data["seconds"]
        if name != "rsync, new ssh":  # shown for comparison; not what the provider runs
            verdicts.append(share <= BYTES_SHARE and seconds.p50 <= SECONDS_TARGET)
        figures.append(f"{name}: {share * 100:.2f}% / {seconds.p50 * 1000:.0f} ms")
        details.append(
            f"| {name} | {first.bytes_sent / 1e6:.1f} MB in {first.seconds:.2f} s | "
            f"{sent:,} B | {share * 100:.3f}% | {seconds.show(1000, digits=0)} |"
        )
    rsync_p50 = runs["rsync"]["seconds"].p50
    sftp_p50 = runs["sftp"]["seconds"].p50
    details += [
        "",
        f"- SFTP / rsync re-sync time: {sftp_p50 / rsync_p50:.2f}x; rsync with a new ssh "
        f"connection per run / shared: "
        f"{runs['rsync, new ssh']['seconds'].p50 / rsync_p50:.2f}x",
        f"- `provider.sync_code` re-sync (what `%flow sync` runs: rsync, shared ssh, "
        f"instance lookup included): "
        f"{provider_seconds.show(1000, digits=0)}",
        "- rsync's bytes are its `Total bytes sent` (file list and checksums included); "
        "SFTP's are the file bodies sent.",
    ]
    return [
        Result(
            what=f"re-sync after changing one file ({env.sizes.tree_bytes / 2**20:.0f} MB, "
            f"{len(files)} files), rsync vs SFTP",
            target=f"<= {BYTES_SHARE * 100:.0f}% of the first upload's bytes, "
            f"<= {SECONDS_TARGET * 1000:.0f} ms",
            measured="; ".join(figures) + " (bytes share / p50 time)",
            met=all(verdicts),
            details=details,
            note="Two fixes came from this benchmark: rsync uploads no longer rehash the "
            "whole tree to write their manifest (only files whose size or mtime moved), and "
            "the provider's rsync runs share one ssh connection (`SSHMultiplexer`, OpenSSH "
            "ControlMaster), which saves the handshake of each run (`rsync, new ssh` row).",
        )
    ]
