"""%flow volumes: table, create, delete with confirmation, upload with progress."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from .widgets.conftest import FullFakeProvider


@pytest.fixture
def provider(use_provider) -> FullFakeProvider:
    provider = FullFakeProvider()
    use_provider(provider)
    return provider


def test_no_volumes(provider, flow):
    assert flow("volumes")[1] == "no volumes\n"


def test_create_then_list(provider, flow):
    assert flow("volumes --create data --size 50")[1] == "created volume vol-1 (data, 50 GB)\n"
    lines = flow("volumes")[1].splitlines()
    assert lines[0].split()[:4] == ["ID", "NAME", "SIZE", "REGION"]
    assert lines[1].split()[:4] == ["vol-1", "data", "50", "GB"]


def test_create_needs_a_size(provider, flow):
    with pytest.raises(UsageError, match="--create needs --size GB"):
        flow("volumes --create data")


def test_delete_without_yes_keeps_the_volume_and_says_how(provider, flow):
    flow("volumes --create data --size 5")
    out = flow("volumes --delete data")[1]
    assert "add --yes to delete it" in out
    assert "vol-1" in provider.volumes


def test_delete_with_yes(provider, flow):
    flow("volumes --create data --size 5")
    assert flow("volumes --delete vol-1 --yes")[1] == "deleted volume vol-1 (data)\n"
    assert provider.volumes == {}


def test_unknown_volume_is_one_line(provider, flow):
    with pytest.raises(UsageError, match="no volume 'ghost'"):
        flow("volumes --delete ghost --yes")


def test_upload_a_directory_reports_bytes_when_done(provider, flow, tmp_path):
    flow("volumes --create data --size 5")
    source = tmp_path / "ds"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("x" * 100)
    (source / "sub" / "b.txt").write_text("y" * 50)
    out = flow(f"volumes --upload data {source} --to inputs")[1]
    assert out == "upload to vol-1: 150 B of 150 B (100%) done\n"
    assert provider.uploads == [("vol-1", "ds/", "inputs")]  # one call for the tree


def test_upload_of_a_missing_path_is_one_line(provider, flow, tmp_path):
    flow("volumes --create data --size 5")
    with pytest.raises(UsageError, match="no local file or directory"):
        flow(f"volumes --upload data {tmp_path / 'missing'}")
