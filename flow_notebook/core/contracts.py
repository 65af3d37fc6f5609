"""Checks that keep ``IProvider`` parameters honest: honoured, or refused with one line.

Every provider calls these for the parameters it cannot honour, so no option is
silently ignored and every provider refuses it in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flow_notebook.core.errors import ValidationError

REQUIREMENT_KEYS = ("instance_type", "gpu_type", "gpu_count", "region", "max_price")
"""What ``find_instances`` requirements may hold."""


def check_requirements(requirements: Mapping[str, Any]) -> None:
    """Refuses ``find_instances`` requirements no provider knows.

    Raises:
        ValidationError: A key is not one of ``REQUIREMENT_KEYS``.
    """
    unknown = sorted(set(requirements) - set(REQUIREMENT_KEYS))
    if unknown:
        raise ValidationError(
            f"unknown requirement {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(REQUIREMENT_KEYS)}",
            field="requirements",
        )


def refuse_partial_placement(
    provider: str, allow_partial_fulfillment: bool, chunk_size: int | None
) -> None:
    """Refuses the ``submit_task`` options of a provider that starts all instances or none.

    Args:
        provider: The provider's name, for the message.
        allow_partial_fulfillment: The caller's value; ``True`` is refused.
        chunk_size: The caller's value; anything but ``None`` is refused.

    Raises:
        ValidationError: An option the provider cannot honour was given.
    """
    if allow_partial_fulfillment:
        raise ValidationError(
            f"the {provider} provider starts all of a task's instances or none; "
            "allow_partial_fulfillment is not supported",
            field="allow_partial_fulfillment",
        )
    if chunk_size is not None:
        raise ValidationError(
            f"the {provider} provider places a task's instances in one request; "
            "chunk_size is not supported",
            field="chunk_size",
        )
