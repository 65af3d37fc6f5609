"""Mithril's published OpenAPI document for the Compute API, vendored with the package.

The sandbox validates requests against it and the tests check the sandbox and the
client against it. ``README.md`` beside it says where it comes from.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

SPEC_FILE = "openapi.json"


@functools.cache
def _cached_spec() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(SPEC_FILE).read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


def load_spec() -> dict[str, Any]:
    """Returns the OpenAPI document as a dict (a fresh copy the caller may change).

    Returns:
        The parsed ``openapi.json``.
    """
    return copy.deepcopy(_cached_spec())


def spec_path() -> str:
    """Returns a file-system path to ``openapi.json`` for tools that take a file.

    Returns:
        The path of the vendored document inside the installed package.
    """
    return str(resources.files(__package__).joinpath(SPEC_FILE))
