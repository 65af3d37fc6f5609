"""The embedded local provider: tasks run as process groups on this machine.

``LocalProvider`` is imported on first use, so that the task supervisor (a module of
this package) starts without loading pydantic, diskcache or the provider itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalProvider"]


def __getattr__(name: str) -> Any:
    if name == "LocalProvider":
        from flow_notebook.providers.local.provider import LocalProvider

        return LocalProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
