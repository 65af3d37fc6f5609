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
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def user_of(request: Request) -> User:
    """Returns the user the middleware authenticated."""
    user: User = request.state.user
    return user


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
