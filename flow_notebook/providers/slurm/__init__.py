"""The Slurm provider: tasks as Slurm jobs, reached through a login node.

``SlurmProvider`` is imported on first use, so looking the provider up stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SlurmProvider"]


def __getattr__(name: str) -> Any:
    if name == "SlurmProvider":
        from flow_notebook.providers.slurm.provider import SlurmProvider

        return SlurmProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
