"""What code a cell ran: the synced tree's digest, its git commit, and later local edits."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flow_notebook.core.code_tree import iter_code_files, tree_digest
from flow_notebook.core.errors import FlowError

GitRunner = Callable[[Path, list[str]], str | None]
"""Runs ``git ARGS`` in a directory; returns its output, or ``None`` when it failed."""
_GIT_TIMEOUT = 5.0
NOTEBOOK_SUFFIX = ".ipynb"


def run_git(directory: Path, args: list[str]) -> str | None:
    """Runs ``git -C directory ARGS``; ``None`` when git is missing or the call fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@dataclass(frozen=True)
class Provenance:
    """The code a task got.

    Attributes:
        code_root: The local directory that was sent.
        digest: ``code_tree.tree_digest`` of the selected files.
        git_commit: ``HEAD`` of the repository holding ``code_root``, when there is one.
        git_dirty: Whether tracked files had uncommitted changes.
        synced_at: Epoch seconds taken before the files were read.
    """

    code_root: Path
    digest: str
    git_commit: str | None
    git_dirty: bool
    synced_at: float

    def metadata(self) -> dict[str, Any]:
        """Returns the facts for a cell's output metadata (JSON-safe, no local paths)."""
        when = datetime.fromtimestamp(self.synced_at, timezone.utc).isoformat(timespec="seconds")
        return {
            "code_digest": self.digest,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "synced_at": when,
        }

    def one_line(self) -> str:
        """Returns ``code 1a2b3c4d5e6f (git 0123abc, uncommitted changes)``."""
        text = f"code {self.digest[:12]}"
        if self.git_commit:
            dirty = ", uncommitted changes" if self.git_dirty else ""
            text += f" (git {self.git_commit[:7]}{dirty})"
        return text


def capture(root: Path, *, exclude: Iterable[Path] = (), git: GitRunner = run_git) -> Provenance:
    """Hashes ``root`` and asks git about it.

    Raises:
        ValidationError: ``root`` is not a directory, or a symlink leaves it.
    """
    synced_at = time.time()
    digest = tree_digest(root, exclude=exclude)
    head = git(root, ["rev-parse", "HEAD"])
    commit = head.strip() if head and head.strip() else None
    dirty = False
    if commit:
        status = git(root, ["status", "--porcelain", "--untracked-files=no", "--", "."])
        dirty = bool(status and status.strip())
    return Provenance(Path(root), digest, commit, dirty, synced_at)


def changed_since(
    root: Path, since: float, *, exclude: Iterable[Path] = (), limit: int = 5
) -> list[str]:
    """Returns up to ``limit`` selected files of ``root`` modified after ``since``.

    Used to warn that the task runs an older copy than the one being edited.
    Notebooks (``*.ipynb``) are left out: Jupyter saves the open notebook while its
    cells run, and a task does not import it; ``.ipynb_checkpoints`` is never
    selected (``code_tree.ALWAYS_SKIPPED``).
    """
    found: list[str] = []
    try:
        for rel in iter_code_files(root, exclude=exclude):
            if rel.suffix == NOTEBOOK_SUFFIX:
                continue
            try:
                modified = (root / rel).stat().st_mtime
            except OSError:
                continue
            if modified > since:
                found.append(rel.as_posix())
                if len(found) >= limit:
                    break
    except (OSError, FlowError):
        return found
    return found


def stale_warning(root: Path, since: float, *, exclude: Iterable[Path] = ()) -> str | None:
    """Returns one warning line when local files changed after ``since``, else ``None``."""
    changed = changed_since(root, since, exclude=exclude)
    if not changed:
        return None
    more = ", ..." if len(changed) >= 5 else ""
    return (
        f"warning: local files changed after the code was synced ({', '.join(changed)}{more}); "
        "the task runs the older copy"
    )


def default_code_root(user_ns: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path:
    """Returns the notebook's directory when Jupyter names the notebook, else the cwd."""
    env = os.environ if environ is None else environ
    for candidate in (user_ns.get("__session__"), env.get("JPY_SESSION_NAME")):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            path = Path(candidate).expanduser()
            if path.is_file():
                return path.resolve().parent
    return Path.cwd()
