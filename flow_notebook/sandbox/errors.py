"""Errors the sandbox's services raise; the app turns each into one HTTP answer.

``ApiError`` carries the status and a ``{"detail": "..."}`` message;
``InvalidField`` answers 422 in the spec's ``HTTPValidationError`` shape.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success.

    Attributes:
        status: HTTP status code.
        detail: One-line message for the ``detail`` field.
    """

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """Returns the JSON body of the answer."""
        return {"detail": self.detail}


class NotFound(ApiError):
    """The named resource does not exist or is not visible to the caller (404)."""

    status = 404


class Conflict(ApiError):
    """The request does not fit the resource's state, e.g. deleting a volume in use (409)."""

    status = 409


class QuotaExceeded(ApiError):
    """The project's quota would be exceeded (400, detail starts with ``Quota exceeded``)."""

    status = 400


class InvalidField(ApiError):
    """A field whose value the service rejects (422, ``HTTPValidationError`` shape).

    Args:
        loc: Where the field is, e.g. ``("body", "limit_price")``.
        detail: What is wrong with it.
    """

    status = 422

    def __init__(self, loc: tuple[str | int, ...], detail: str) -> None:
        super().__init__(detail)
        self.loc = list(loc)

    def body(self) -> dict[str, Any]:
        """Returns the ``HTTPValidationError`` body."""
        return {"detail": [{"loc": self.loc, "msg": self.detail, "type": "value_error"}]}


class Unsupported(ApiError):
    """The operation exists but not for this resource, e.g. a spot instance's boot disk (501)."""

    status = 501
