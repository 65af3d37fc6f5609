"""VolumeService: create/delete/list, names checked first, transfers through a running task."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow_notebook.core.errors import TaskStateError, ValidationError
from flow_notebook.providers.mithril.domain.volumes import (
    VolumeService,
    is_volume_id,
    volume_path,
)


class RecordingTransfer:
    """Transfers that succeed only on tasks listed as running."""

    def __init__(self, running: set[str]) -> None:
        self.running = running
        self.calls: list[tuple[str, str, str]] = []

    def _check(self, task_id: str) -> None:
        if task_id not in self.running:
            raise TaskStateError(f"task {task_id} has no instance with SSH yet")

    def upload_file(self, task_id: str, local_path: Path, remote_path: str) -> int:
        self._check(task_id)
        self.calls.append(("upload_file", task_id, remote_path))
        return 1

    def upload_directory(self, task_id: str, local_dir: Path, remote_dir: str) -> int:
        self._check(task_id)
        self.calls.append(("upload_directory", task_id, remote_dir))
        return 1

    def download_file(self, task_id, remote_path, local_dir, name=None):
        self._check(task_id)
        self.calls.append(("download_file", task_id, remote_path))
        return Path(local_dir) / (name or "x")

    def download_directory(self, task_id, remote_dir, local_dir):
        self._check(task_id)
        self.calls.append(("download_directory", task_id, remote_dir))
        return []


def _service(fake, transfer=None) -> VolumeService:
    return VolumeService(fake.client(), "proj_test", lambda: "r1", transfer)


def test_create_uses_the_default_region_and_the_spec_interface_names(fake):
    created = _service(fake).create(10, "data", "file")
    assert (created.region, created.interface, created.name) == ("r1", "File", "data")


@pytest.mark.parametrize("name", ["Data", "1data", "data_", "-x", "x" * 65])
def test_invalid_names_fail_before_any_request(fake, name):
    with pytest.raises(ValidationError, match="volume name"):
        _service(fake).create(10, name)
    assert fake.requests == []


def test_unknown_interface_and_bad_size_fail_before_any_request(fake):
    with pytest.raises(ValidationError, match="interface"):
        _service(fake).create(10, "data", "nfs")
    with pytest.raises(ValidationError, match="size"):
        _service(fake).create(0, "data")
    assert fake.requests == []


def test_delete_reports_whether_the_volume_existed(fake):
    volume = fake.add_volume("data")
    service = _service(fake)
    assert service.delete(volume["fid"]) is True
    assert service.delete(volume["fid"]) is False


def test_list_converts_and_limits(fake):
    for name in ("a", "b", "c"):
        fake.add_volume(name)
    listed = _service(fake).list(limit=2)
    assert [v.name for v in listed] == ["a", "b"]
    assert listed[0].interface == "block"


def test_is_volume_id_tells_ids_from_names():
    assert is_volume_id("vol_abc123")
    assert not is_volume_id("data") and not is_volume_id("vol_")


def test_volume_path_stays_inside_the_volume():
    assert volume_path("vol_1", "a/b.txt") == "/mnt/volumes/vol_1/a/b.txt"
    assert volume_path("vol_1", ".") == "/mnt/volumes/vol_1"
    for bad in ("../etc/passwd", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValidationError):
            volume_path("vol_1", bad)


def test_upload_goes_through_the_first_running_task_that_has_the_volume(fake, tmp_path):
    volume = fake.add_volume("data")
    volume["bids"] = ["bid_stopped", "bid_running"]
    transfer = RecordingTransfer({"bid_running"})
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w")
    assert _service(fake, transfer).upload_file(volume["fid"], source, None) is True
    assert transfer.calls == [
        ("upload_file", "bid_running", f"/mnt/volumes/{volume['fid']}/weights.bin")
    ]


def test_transfer_without_a_running_task_says_what_to_do(fake, tmp_path):
    volume = fake.add_volume("data")
    with pytest.raises(TaskStateError, match="not attached to a running task") as caught:
        _service(fake, RecordingTransfer(set())).download_file(volume["fid"], "x", tmp_path)
    assert "start a task with this volume" in str(caught.value)


def test_upload_of_a_missing_local_file_is_a_validation_error(fake, tmp_path):
    volume = fake.add_volume("data")
    with pytest.raises(ValidationError, match="no local file"):
        _service(fake, RecordingTransfer(set())).upload_file(volume["fid"], tmp_path / "no", None)
