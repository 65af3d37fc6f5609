"""Code upload strategies and the background sync, against a real sshd and rsync."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.providers.mithril.domain.code_upload import (
    CodeUploadService,
    EmbeddedStrategy,
    NoUpload,
    RsyncStrategy,
    SftpStrategy,
)

pytestmark = [pytest.mark.ssh, pytest.mark.timeout(60)]


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    for i in range(30):
        (root / "pkg" / f"mod_{i}.py").write_text(f"VALUE = {i}\n" * 200)
    (root / "big.bin").write_bytes(os.urandom(300_000))
    (root / ".gitignore").write_text("*.log\n")
    (root / ".flowignore").write_text("data/\n")
    (root / "run.log").write_text("ignored by .gitignore")
    (root / "data").mkdir()
    (root / "data" / "huge.csv").write_text("ignored by .flowignore")
    return root


@pytest.fixture
def instance(tmp_path: Path) -> dict[str, Path]:
    return {
        "root": tmp_path / "workspace",
        "manifest": tmp_path / "flowlog" / "code_manifest.json",
        "marker": tmp_path / "flowlog" / "code_ready",
    }


def _strategy(kind: str, remote_ops, instance):
    manifest = str(instance["manifest"])
    if kind == "rsync":
        return RsyncStrategy(remote_ops, manifest_path=manifest)
    return SftpStrategy(remote_ops, manifest_path=manifest)


def _service(strategies, remote_ops, instance) -> CodeUploadService:
    return CodeUploadService(
        strategies,
        remote_ops,
        remote_root=str(instance["root"]),
        ready_marker=str(instance["marker"]),
        ready_timeout=5,
        retry_interval=0.1,
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and ".rsync-partial" not in p.parts
    }


def _expected(code: Path) -> dict[str, bytes]:
    tree = _tree(code)
    return {
        rel: data for rel, data in tree.items() if not rel.endswith(".log") and "data/" not in rel
    }


@pytest.mark.parametrize("kind", ["rsync", "sftp"])
def test_first_sync_sends_selected_files_then_a_change_sends_little(
    kind, code, remote_ops, instance
):
    service = _service([_strategy(kind, remote_ops, instance)], remote_ops, instance)
    first = service.sync("t-1", code)
    assert _tree(instance["root"]) == _expected(code)
    assert first.strategy == kind and first.files_sent == first.files_total == 33
    assert first.bytes_sent > 300_000

    with open(code / "big.bin", "ab") as handle:
        handle.write(b"x" * 100)
    again = service.sync("t-1", code)
    assert _tree(instance["root"]) == _expected(code)
    assert again.files_sent == 1
    limit = 30_000 if kind == "rsync" else 310_000  # SFTP resends the file, not a delta.
    assert again.bytes_sent < limit
    assert again.bytes_sent < first.bytes_sent / (10 if kind == "rsync" else 1)


@pytest.mark.parametrize("kind", ["rsync", "sftp"])
def test_ignored_files_never_reach_the_instance(kind, code, remote_ops, instance):
    _service([_strategy(kind, remote_ops, instance)], remote_ops, instance).sync("t-1", code)
    assert not (instance["root"] / "run.log").exists()
    assert not (instance["root"] / "data").exists()
    assert (instance["root"] / ".gitignore").exists()


@pytest.mark.parametrize("kind", ["rsync", "sftp"])
def test_deleted_files_are_removed_but_task_outputs_are_kept(kind, code, remote_ops, instance):
    service = _service([_strategy(kind, remote_ops, instance)], remote_ops, instance)
    service.sync("t-1", code)
    (instance["root"] / "checkpoint.pt").write_text("written by the task")
    (code / "pkg" / "mod_3.py").unlink()
    service.sync("t-1", code)
    assert not (instance["root"] / "pkg" / "mod_3.py").exists()
    assert (instance["root"] / "checkpoint.pt").read_text() == "written by the task"


@pytest.mark.parametrize("kind", ["rsync", "sftp"])
def test_interrupted_upload_is_completed_by_the_next_sync(kind, code, remote_ops, instance):
    service = _service([_strategy(kind, remote_ops, instance)], remote_ops, instance)

    def interrupt(files_done, files_total, bytes_done, bytes_total):
        if files_done >= 2:
            raise RemoteOperationError("interrupted")

    with pytest.raises(RemoteOperationError, match="interrupted"):
        service.sync("t-1", code, progress=interrupt)
    assert not instance["marker"].exists()
    service.sync("t-1", code)
    assert _tree(instance["root"]) == _expected(code)
    assert not list(instance["root"].rglob("*.flow-part"))
    assert instance["marker"].exists()


def test_progress_reports_reach_the_totals(code, remote_ops, instance):
    reports = []
    service = _service([_strategy("sftp", remote_ops, instance)], remote_ops, instance)
    service.sync("t-1", code, progress=lambda *counts: reports.append(counts))
    total_bytes = sum((code / rel).stat().st_size for rel in iter_code_files(code))
    assert reports[-1][0] == reports[-1][1] == 33
    assert reports[-1][2] == reports[-1][3]
    assert reports[-1][3] == total_bytes
    assert [r[0] for r in reports] == sorted(r[0] for r in reports)


def test_background_upload_touches_the_ready_marker(code, remote_ops, instance):
    service = _service(
        [RsyncStrategy(remote_ops, manifest_path=str(instance["manifest"]))], remote_ops, instance
    )
    handle = service.start("t-1", code)
    assert handle.wait(30)
    assert handle.error is None, handle.error
    assert handle.done and handle.stats.files_sent == 33
    assert instance["marker"].exists()


def test_rsync_is_preferred_and_sftp_is_the_fallback(remote_ops, instance):
    sftp = _strategy("sftp", remote_ops, instance)
    with_rsync = _service([_strategy("rsync", remote_ops, instance), sftp], remote_ops, instance)
    assert with_rsync.choose("t-1").name == "rsync"
    missing = RsyncStrategy(remote_ops, rsync="rsync-not-installed")
    assert _service([missing, sftp], remote_ops, instance).choose("t-1").name == "sftp"


def test_background_upload_reports_an_unreachable_instance(code, pool, instance):
    from flow_notebook.providers.mithril.remote import MithrilRemoteOperations, SSHEndpoint

    gone = MithrilRemoteOperations(
        lambda task_id: [SSHEndpoint("127.0.0.1", 1, "root", "gone")], pool
    )
    service = CodeUploadService([NoUpload()], gone, ready_timeout=0.3, retry_interval=0.1)
    handle = service.start("t-1", code)
    assert handle.wait(10)
    assert isinstance(handle.error, RemoteOperationError)
    assert handle.stats is None


def test_embedded_section_unpacks_the_selected_files(code, tmp_path):
    (code / "big.bin").unlink()
    section = EmbeddedStrategy().embed_section(code, str(tmp_path / "unpacked"))
    assert section is not None
    subprocess.run(["bash", "-c", section], check=True, timeout=30)
    assert _tree(tmp_path / "unpacked") == _expected(code)


def test_embedding_declines_trees_over_the_cap(code):
    assert EmbeddedStrategy(max_bytes=10_000).embed_section(code) is None
    assert EmbeddedStrategy().is_available("t-1") is False


def test_no_upload_sends_nothing(code, remote_ops, instance):
    stats = _service([NoUpload()], remote_ops, instance).sync("t-1", code)
    assert stats.strategy == "none" and stats.bytes_sent == 0
    assert not (instance["root"] / "pkg").exists()
