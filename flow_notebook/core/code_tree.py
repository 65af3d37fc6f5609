r"""Select, hash and copy the files of a code directory, as every provider uploads it.

Files are selected the way ``git`` would: patterns in ``.gitignore`` and ``.flowignore``
(``.flowignore`` wins, being read last) in the root and in any sub-directory apply,
with gitignore syntax: ``*.ext``, ``dir/``, anchored ``/x`` or ``a/b``, ``**``,
``!negation``, ``#`` comments and ``\`` escapes. A file inside an ignored directory
cannot be re-included, as in git. ``.git``, ``__pycache__``, ``.ipynb_checkpoints``,
``.venv`` and ``venv`` are always skipped.

Symlinks that stay inside the tree are followed for files (their content is sent);
symlinks that point outside it are refused unless ``follow_external_symlinks=True``,
so an upload never silently sends a home directory. Dangling symlinks are skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flow_notebook.core.errors import ValidationError

ALWAYS_SKIPPED = frozenset({".git", "__pycache__", ".ipynb_checkpoints", ".venv", "venv"})
IGNORE_FILES = (".gitignore", ".flowignore")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CopyStats:
    """What ``copy_code_tree`` copied.

    Attributes:
        files: Number of files written.
        bytes: Total size of the files written.
    """

    files: int
    bytes: int


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    base: str  # Directory of the ignore file, relative to the root ("" for the root).


def iter_code_files(
    root: Path | str,
    *,
    follow_external_symlinks: bool = False,
    exclude: Iterable[Path] = (),
) -> Iterator[Path]:
    """Yields the selected files of ``root`` as relative paths, sorted.

    Args:
        root: The directory to select from.
        follow_external_symlinks: Whether symlinks leaving ``root`` may be followed.
        exclude: Directories never to enter (e.g. local state inside the tree).

    Yields:
        Paths relative to ``root``, in sorted (POSIX string) order.

    Raises:
        ValidationError: ``root`` is not a directory, or a symlink leaves the tree.
    """
    base = Path(root)
    if not base.is_dir():
        raise ValidationError(f"code root {base} is not a directory", field="code_root")
    walker = _Walker(base.resolve(), follow_external_symlinks, exclude)
    found = walker.walk(base, "", [])
    yield from sorted(found, key=lambda rel: rel.as_posix())


def tree_digest(
    root: Path | str, *, follow_external_symlinks: bool = False, exclude: Iterable[Path] = ()
) -> str:
    """Returns a stable sha256 hex digest of the selected files' paths and contents.

    Args:
        root: The directory to hash.
        follow_external_symlinks: Whether symlinks leaving ``root`` may be followed.
        exclude: Directories never to enter.

    Returns:
        The hex digest; equal trees give equal digests on any machine.
    """
    base = Path(root)
    digest = hashlib.sha256()
    files = iter_code_files(
        base, follow_external_symlinks=follow_external_symlinks, exclude=exclude
    )
    for rel in files:
        digest.update(rel.as_posix().encode("utf-8") + b"\0")
        digest.update(_file_sha256(base / rel) + b"\n")
    return digest.hexdigest()


def copy_code_tree(
    src: Path | str,
    dst: Path | str,
    *,
    follow_external_symlinks: bool = False,
    exclude: Iterable[Path] = (),
) -> CopyStats:
    """Copies the selected files of ``src`` into ``dst``, creating directories.

    Each file is written to a temporary file next to its destination and renamed
    into place, so a reader never sees a half-written file.

    Args:
        src: The directory to copy from.
        dst: The directory to copy into (created when missing).
        follow_external_symlinks: Whether symlinks leaving ``src`` may be followed.
        exclude: Directories never to enter.

    Returns:
        How many files and bytes were written.

    Raises:
        ValidationError: ``src`` is not a directory, or a symlink leaves the tree.
    """
    source, target = Path(src), Path(dst)
    files = total = 0
    selected = iter_code_files(
        source, follow_external_symlinks=follow_external_symlinks, exclude=exclude
    )
    for rel in selected:
        total += atomic_copy_file(source / rel, target / rel)
        files += 1
    target.mkdir(parents=True, exist_ok=True)
    return CopyStats(files=files, bytes=total)


def atomic_copy_file(src: Path, dst: Path) -> int:
    """Copies one file via a temporary file and a rename; returns its size.

    Args:
        src: File to read (symlinks are followed).
        dst: Destination path; its parent directories are created.

    Returns:
        The number of bytes written.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, _CHUNK)
        shutil.copymode(src, tmp_name)
        os.replace(tmp_name, dst)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dst.stat().st_size


class _Walker:
    """Walks a tree applying ignore rules and the symlink policy."""

    def __init__(self, real_root: Path, follow_external: bool, exclude: Iterable[Path]) -> None:
        self._real_root = real_root
        self._follow_external = follow_external
        self._excluded = {Path(path).resolve() for path in exclude}
        self._visited: set[Path] = set()

    def walk(self, directory: Path, rel_dir: str, rules: list[_Rule]) -> list[Path]:
        real = directory.resolve()
        if real in self._visited:  # A symlink loop; each real directory is walked once.
            return []
        self._visited.add(real)
        rules = rules + _read_rules(directory, rel_dir)
        found: list[Path] = []
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda item: item.name):
                found.extend(self._visit(entry, rel_dir, rules))
        return found

    def _visit(self, entry: os.DirEntry[str], rel_dir: str, rules: list[_Rule]) -> list[Path]:
        if entry.name in ALWAYS_SKIPPED:
            return []
        rel = f"{rel_dir}{entry.name}"
        path = Path(entry.path)
        is_dir = entry.is_dir(follow_symlinks=True)
        if not is_dir and not entry.is_file(follow_symlinks=True):
            return []  # Dangling symlinks, sockets, fifos.
        if _ignored(rel, is_dir, rules):
            return []
        if is_dir and self._excluded and path.resolve() in self._excluded:
            return []
        if entry.is_symlink() and not self._symlink_allowed(path, is_dir):
            return []
        if is_dir:
            return self.walk(path, rel + "/", rules)
        return [Path(rel)]

    def _symlink_allowed(self, path: Path, is_dir: bool) -> bool:
        target = path.resolve()
        inside = target == self._real_root or self._real_root in target.parents
        if inside:
            # Directory links inside the tree would only duplicate files already sent.
            return not is_dir
        if self._follow_external:
            return True
        raise ValidationError(
            f"symlink {path} points outside the code directory",
            field="code_root",
            suggestion="add it to .flowignore or allow external symlinks",
        )


def _read_rules(directory: Path, rel_dir: str) -> list[_Rule]:
    rules: list[_Rule] = []
    for name in IGNORE_FILES:
        path = directory / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            rules.extend(parse_ignore_lines(text.splitlines(), base=rel_dir))
    return rules


def parse_ignore_lines(lines: list[str], base: str = "") -> list[_Rule]:
    """Parses gitignore-style lines into rules relative to ``base``.

    Args:
        lines: Lines of an ignore file.
        base: Directory of the ignore file relative to the tree root, ending in
            ``/`` (or empty for the root).

    Returns:
        The rules in file order (later rules win).
    """
    rules = []
    for raw in lines:
        rule = _parse_line(raw, base)
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_line(raw: str, base: str) -> _Rule | None:
    line = raw.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        return None
    line = re.sub(r"(?<!\\)\s+$", "", line)
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    if line.startswith(("\\#", "\\!")):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    body = _translate(line.lstrip("/"))
    prefix = "" if anchored else "(?:.*/)?"
    regex = re.compile(f"^{re.escape(base)}{prefix}{body}$")
    return _Rule(regex=regex, negated=negated, dir_only=dir_only, base=base)


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            piece, i = _translate_char(pattern, i)
            out.append(piece)
    return "".join(out)


def _translate_char(pattern: str, i: int) -> tuple[str, int]:
    char = pattern[i]
    if char == "*":
        return "[^/]*", i + 1
    if char == "?":
        return "[^/]", i + 1
    if char == "\\" and i + 1 < len(pattern):
        return re.escape(pattern[i + 1]), i + 2
    if char == "[":
        end = pattern.find("]", i + 2)
        if end != -1:
            inner = pattern[i + 1 : end].replace("\\", "\\\\")
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            return f"[{inner}]", end + 1
    return re.escape(char), i + 1


def _ignored(rel: str, is_dir: bool, rules: list[_Rule]) -> bool:
    ignored = False
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.regex.match(rel):
            ignored = not rule.negated
    return ignored


def _file_sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.digest()
