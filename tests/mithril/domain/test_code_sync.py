"""CodeSync: one report for %flow sync from the uploads to each instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow_notebook.core.code_tree import tree_digest
from flow_notebook.core.errors import ValidationError
from flow_notebook.providers.mithril.domain.code_sync import CodeSync


class RecordingInstanceSync:
    """Answers like Provisioner.sync_code: one UploadStats dict per instance."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Path, str]] = []

    def sync_code(self, bid_fid: str, root: Path, working_dir: str = "/workspace") -> list[dict]:
        self.calls.append((bid_fid, root, working_dir))
        return [
            {"instance": "inst_0", "strategy": "rsync", "files_total": 3, "files_sent": 1,
             "bytes_sent": 120, "files_deleted": 1},
            {"instance": "inst_1", "strategy": "rsync", "files_total": 3, "files_sent": 1,
             "bytes_sent": 130, "files_deleted": 1},
        ]  # fmt: skip


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    (root / "home").mkdir(parents=True)
    (root / "train.py").write_text("print(1)\n")
    (root / "home" / "config.yaml").write_text("api_key: fkey_secret\n")
    return root


def test_reports_of_every_instance_are_summed_into_one(code):
    instances = RecordingInstanceSync()
    result = CodeSync(instances, lambda task_id: None).sync_code("bid_1", code)
    assert (result["files"], result["bytes"], result["deleted"]) == (2, 250, 2)
    assert result["files_total"] == 3 and result["strategy"] == "rsync"
    assert [r["instance"] for r in result["instances"]] == ["inst_0", "inst_1"]
    assert instances.calls == [("bid_1", code, "/workspace")]


def test_the_task_own_working_directory_receives_the_code(code):
    instances = RecordingInstanceSync()
    sync = CodeSync(instances, {"bid_1": "/srv/app"}.get)
    assert sync.sync_code("bid_1", code)["working_dir"] == "/srv/app"
    assert instances.calls[0][2] == "/srv/app"


def test_the_digest_leaves_out_the_excluded_home(code):
    result = CodeSync(RecordingInstanceSync(), lambda t: None, exclude=[code / "home"]).sync_code(
        "bid_1", code
    )
    assert result["digest"] == tree_digest(code, exclude=[code / "home"])
    assert result["digest"] != tree_digest(code)


def test_a_missing_directory_is_refused_before_any_upload(tmp_path):
    instances = RecordingInstanceSync()
    with pytest.raises(ValidationError, match="not a directory"):
        CodeSync(instances, lambda t: None).sync_code("bid_1", tmp_path / "nope")
    assert instances.calls == []
