from __future__ import annotations

import os

import pytest

from flow_notebook.core.errors import NotFoundError, ValidationError
from flow_notebook.core.models import TaskConfig, TaskStatus, VolumeSpec
from flow_notebook.providers.local.volumes import LocalVolumes, env_name

from .conftest import wait_terminal


@pytest.fixture
def volumes(tmp_path):
    return LocalVolumes(tmp_path / "volumes")


def test_create_list_and_delete_a_volume(volumes):
    volume = volumes.create(10, "my-data")
    assert volumes.is_volume_id(volume.volume_id)
    assert volume.volume_id.startswith("vol-local-")
    assert not volumes.is_volume_id("my-data")
    assert [v.name for v in volumes.list()] == ["my-data"]
    assert volumes.get(volume.volume_id).size_gb == 10
    assert volumes.delete(volume.volume_id) is True
    assert volumes.delete(volume.volume_id) is False
    assert volumes.list() == []
    with pytest.raises(NotFoundError):
        volumes.get(volume.volume_id)


@pytest.mark.parametrize("name", ["Upper", "1starts-digit", "ends-", "under_score", "a" * 65])
def test_invalid_volume_names_are_refused(volumes, name):
    with pytest.raises(ValidationError, match="invalid volume name"):
        volumes.create(1, name)


def test_duplicate_name_size_and_interface_are_refused(volumes):
    volumes.create(1, "taken")
    with pytest.raises(ValidationError, match="already exists"):
        volumes.create(1, "taken")
    with pytest.raises(ValidationError):
        volumes.create(0, "zero")
    with pytest.raises(ValidationError):
        volumes.create(1, "nfs", interface="nfs")


def test_generated_name_is_valid(volumes):
    volume = volumes.create(1)
    assert volumes.find_by_name(volume.name) == volume


def test_upload_and_download_file_and_directory_round_trip(volumes, tmp_path):
    volume = volumes.create(1, "rt")
    (tmp_path / "f.txt").write_text("file")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    assert volumes.upload_file(volume.volume_id, tmp_path / "f.txt", None)
    assert volumes.upload_file(volume.volume_id, tmp_path / "f.txt", "deep/renamed.txt")
    assert volumes.upload_directory(volume.volume_id, tree, None)
    data = volumes.data_dir(volume.volume_id)
    assert (data / "f.txt").read_text() == "file"
    assert (data / "deep/renamed.txt").read_text() == "file"
    assert (data / "tree/sub/b.txt").read_text() == "b"
    out = tmp_path / "out"
    out.mkdir()
    assert volumes.download_file(volume.volume_id, "deep/renamed.txt", out)
    assert (out / "renamed.txt").read_text() == "file"
    assert volumes.download_directory(volume.volume_id, "tree", out / "copy")
    assert (out / "copy/sub/b.txt").read_text() == "b"
    with pytest.raises(NotFoundError):
        volumes.download_file(volume.volume_id, "missing.txt", out)


@pytest.mark.parametrize("remote", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "/tmp/x"])
def test_remote_paths_escaping_the_volume_are_refused(volumes, tmp_path, remote):
    volume = volumes.create(1, "safe")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValidationError):
        volumes.upload_file(volume.volume_id, tmp_path / "f.txt", remote)
    with pytest.raises(ValidationError):
        volumes.download_file(volume.volume_id, remote, tmp_path / "out.txt")


def test_absolute_path_inside_the_volume_is_accepted(volumes, tmp_path):
    volume = volumes.create(1, "abs")
    (tmp_path / "f.txt").write_text("x")
    inside = str(volumes.data_dir(volume.volume_id) / "f.txt")
    assert volumes.upload_file(volume.volume_id, tmp_path / "f.txt", inside)


def test_symlink_leading_out_of_the_volume_is_refused(volumes, tmp_path):
    volume = volumes.create(1, "links")
    data = volumes.data_dir(volume.volume_id)
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", data / "leak")
    os.symlink(tmp_path, data / "outdir")
    with pytest.raises(ValidationError):
        volumes.download_file(volume.volume_id, "leak", tmp_path / "got")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValidationError):
        volumes.upload_file(volume.volume_id, tmp_path / "f.txt", "outdir/f.txt")
    (data / "d").mkdir()
    os.symlink(tmp_path / "secret", data / "d" / "leak")
    with pytest.raises(ValidationError, match="links outside"):
        volumes.download_directory(volume.volume_id, "d", tmp_path / "dl")


def test_download_directory_never_writes_through_a_link_out_of_the_target(volumes, tmp_path):
    volume = volumes.create(1, "dl")
    data = volumes.data_dir(volume.volume_id)
    (data / "d" / "sub").mkdir(parents=True)
    (data / "d" / "sub" / "f.txt").write_text("x")
    target = tmp_path / "target"
    target.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, target / "sub")
    with pytest.raises(ValidationError, match="outside"):
        volumes.download_directory(volume.volume_id, "d", target)
    assert list(elsewhere.iterdir()) == []


def test_task_sees_volume_at_relative_mount_path_and_in_env(provider):
    volume = provider.create_volume(1, "shared-data")
    task = provider.submit_task(
        "",
        TaskConfig(
            command='echo written > data/out.txt; echo "$FLOW_VOLUME_SHARED_DATA"',
            volumes=[VolumeSpec(volume_id=volume.volume_id, mount_path="/data")],
        ),
    )
    assert wait_terminal(provider, task.task_id).status is TaskStatus.COMPLETED
    data_dir = provider.get_task_logs(task.task_id)
    assert env_name("shared-data") == "FLOW_VOLUME_SHARED_DATA"
    assert data_dir == str(provider.state_root / "volumes" / volume.volume_id / "data")
    out = provider.state_root / "dl.txt"
    provider.download_file(volume.volume_id, "out.txt", out)
    assert out.read_text() == "written\n"
    assert provider.get_task(task.task_id).metadata["volumes"][0]["name"] == "shared-data"


def test_task_creates_a_new_volume_by_name_and_size(provider):
    task = provider.submit_task(
        "", TaskConfig(command="ls", volumes=[VolumeSpec(name="fresh", size_gb=2)])
    )
    wait_terminal(provider, task.task_id)
    assert [(v.name, v.size_gb) for v in provider.list_volumes()] == [("fresh", 2)]


def test_task_with_unknown_volume_name_is_refused(provider):
    with pytest.raises(ValidationError, match="no volume named"):
        provider.submit_task("", TaskConfig(command="ls", volumes=[VolumeSpec(name="ghost")]))
