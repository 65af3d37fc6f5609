from __future__ import annotations

import os
from pathlib import Path

import pytest

from flow_notebook.core.code_tree import copy_code_tree, iter_code_files, tree_digest
from flow_notebook.core.errors import ValidationError


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _selected(root: Path, **kwargs) -> list[str]:
    return [p.as_posix() for p in iter_code_files(root, **kwargs)]


def test_always_skipped_directories_are_left_out(tmp_path):
    _write(
        tmp_path,
        {
            "main.py": "x",
            ".git/config": "x",
            "__pycache__/m.pyc": "x",
            "pkg/__pycache__/m.pyc": "x",
            ".ipynb_checkpoints/a.ipynb": "x",
            ".venv/bin/python": "x",
            "venv/lib/x.py": "x",
            "pkg/mod.py": "x",
        },
    )
    assert _selected(tmp_path) == ["main.py", "pkg/mod.py"]


def test_gitignore_patterns_extension_directory_anchor_and_negation(tmp_path):
    _write(
        tmp_path,
        {
            ".gitignore": "# comment\n*.log\nbuild/\n/top.txt\n!keep.log\n",
            "a.log": "x",
            "keep.log": "x",
            "sub/b.log": "x",
            "build/out.bin": "x",
            "sub/build/out.bin": "x",
            "top.txt": "x",
            "sub/top.txt": "x",
        },
    )
    assert _selected(tmp_path) == [".gitignore", "keep.log", "sub/top.txt"]


def test_double_star_matches_any_depth(tmp_path):
    _write(
        tmp_path,
        {
            ".flowignore": "data/**/*.csv\n**/secret.txt\n",
            "data/a.csv": "x",
            "data/x/y/b.csv": "x",
            "data/keep.json": "x",
            "deep/er/secret.txt": "x",
            "secret.txt": "x",
        },
    )
    assert _selected(tmp_path) == [".flowignore", "data/keep.json"]


def test_flowignore_overrides_gitignore_and_nested_files_apply_to_their_directory(tmp_path):
    _write(
        tmp_path,
        {
            ".gitignore": "*.dat\n",
            ".flowignore": "!wanted.dat\n",
            "wanted.dat": "x",
            "other.dat": "x",
            "sub/.gitignore": "local.txt\n",
            "sub/local.txt": "x",
            "local.txt": "x",
        },
    )
    assert _selected(tmp_path) == [
        ".flowignore",
        ".gitignore",
        "local.txt",
        "sub/.gitignore",
        "wanted.dat",
    ]


def test_file_in_ignored_directory_cannot_be_reincluded(tmp_path):
    _write(tmp_path, {".gitignore": "out/\n!out/keep.txt\n", "out/keep.txt": "x", "a": "x"})
    assert _selected(tmp_path) == [".gitignore", "a"]


def test_symlink_outside_tree_is_refused_unless_allowed(tmp_path):
    root = _write(tmp_path / "root", {"a.py": "x"})
    outside = _write(tmp_path / "outside", {"secret": "s"})
    os.symlink(outside / "secret", root / "link")
    with pytest.raises(ValidationError, match="outside"):
        _selected(root)
    assert _selected(root, follow_external_symlinks=True) == ["a.py", "link"]


def test_ignored_external_symlink_does_not_block_upload(tmp_path):
    root = _write(tmp_path / "root", {"a.py": "x", ".flowignore": "link\n"})
    os.symlink(tmp_path, root / "link")
    assert _selected(root) == [".flowignore", "a.py"]


def test_internal_file_symlink_is_included_and_dangling_one_skipped(tmp_path):
    root = _write(tmp_path, {"a.py": "x"})
    os.symlink(root / "a.py", root / "alias.py")
    os.symlink(root / "missing", root / "dangling")
    assert _selected(root) == ["a.py", "alias.py"]


def test_digest_is_stable_and_changes_with_content_or_name(tmp_path):
    root = _write(tmp_path / "r", {"a.py": "one", "b/c.py": "two"})
    first = tree_digest(root)
    assert tree_digest(root) == first
    other = _write(tmp_path / "copy", {"b/c.py": "two", "a.py": "one"})
    assert tree_digest(other) == first
    (root / "a.py").write_text("changed")
    assert tree_digest(root) != first
    (root / "a.py").write_text("one")
    (root / "a.py").rename(root / "z.py")
    assert tree_digest(root) != first


def test_copy_writes_selected_files_only_and_reports_stats(tmp_path):
    src = _write(
        tmp_path / "src", {".gitignore": "*.tmp\n", "a.py": "abc", "d/b.py": "de", "x.tmp": "no"}
    )
    os.chmod(src / "a.py", 0o755)
    stats = copy_code_tree(src, tmp_path / "dst")
    dst = tmp_path / "dst"
    assert stats.files == 3
    assert stats.bytes == len("*.tmp\n") + 3 + 2
    assert (dst / "d/b.py").read_text() == "de"
    assert not (dst / "x.tmp").exists()
    assert os.stat(dst / "a.py").st_mode & 0o777 == 0o755
    assert not list(dst.rglob("*.part"))
    assert tree_digest(dst) == tree_digest(src)


def test_non_directory_root_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError):
        _selected(tmp_path / "nope")


def test_excluded_directories_are_not_entered(tmp_path):
    _write(tmp_path, {"a.py": "x", "state/tasks/t/work/a.py": "x", "b/state/c.py": "x"})
    assert _selected(tmp_path, exclude=[tmp_path / "state"]) == ["a.py", "b/state/c.py"]
    assert tree_digest(tmp_path, exclude=[tmp_path / "state"]) != tree_digest(tmp_path)
