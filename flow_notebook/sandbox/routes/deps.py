"""Small helpers shared by the route modules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request

from flow_notebook.sandbox.errors import InvalidField
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import User

JsonBody = Annotated[dict[str, Any], Body()]
"""A request body; the spec validation in front of the routes has already checked it."""


def sandbox_of(request: Request) -> Sandbox:
    """Returns the sandbox the app serves."""
    return request.app.state.sandbox


def user_of(request: Request) -> User:
    """Returns the user the middleware authenticated."""
    return request.state.user


def split_list(
    values: list[str] | None, name: str, allowed: tuple[str, ...] | None = None
) -> list[str] | None:
    """Returns a list parameter given repeated or comma-separated, checked against ``allowed``.

    Raises:
        InvalidField: When an item is not in ``allowed``.
    """
    if not values:
        return None
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    for item in items:
        if allowed is not None and item not in allowed:
            raise InvalidField(("query", name), f"Unknown value {item!r}")
    return items


def check_fields(body: Any, required: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """Returns ``body`` once it is an object holding each ``required`` field with its type.

    Raises:
        InvalidField: For the first missing or mistyped field (422, ``("body", name)``).
    """
    if not isinstance(body, dict):
        raise InvalidField(("body",), "Input should be an object")
    for name, kind in required.items():
        value = body.get(name)
        if value is None:
            raise InvalidField(("body", name), "Field required")
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise InvalidField(("body", name), "Wrong type")
    return body


def check_strings(value: Any, loc: tuple[str, ...]) -> list[str]:
    """Returns ``value`` once it is a list of strings.

    Raises:
        InvalidField: Otherwise.
    """
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidField(loc, "Input should be a list of strings")
    return value


def check_launch_specification(spec: Any, loc: tuple[str, ...]) -> dict[str, Any]:
    """Returns a ``LaunchSpecificationModel`` body once its fields have the spec's types.

    Raises:
        InvalidField: For the first field that does not.
    """
    if not isinstance(spec, dict):
        raise InvalidField(loc, "Input should be an object")
    for name in ("volumes", "ssh_keys"):
        check_strings(spec.get(name), (*loc, name))
    for name in ("startup_script", "kubernetes_cluster", "image_version"):
        if not isinstance(spec.get(name), str | None):
            raise InvalidField((*loc, name), "Input should be a string")
    memory = spec.get("memory_gb")
    if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool)):
        raise InvalidField((*loc, "memory_gb"), "Input should be an integer")
    return spec
