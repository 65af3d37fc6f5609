"""A small JSON object in a file, read whole and replaced atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from flow_notebook.core.errors import ConfigurationError


def read_json_object(path: Path) -> dict[str, Any]:
    """Returns the JSON object in ``path``; ``{}`` when missing or damaged.

    A damaged file only costs what it recorded, so reading starts over rather than fails.
    """
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def write_json_object(path: Path, data: dict[str, Any]) -> None:
    """Replaces ``path`` with ``data`` via a temporary file and a rename.

    Raises:
        ConfigurationError: The file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from exc
