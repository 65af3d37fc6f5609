"""The one error tree of flow_notebook.

Every failure a user can meet is one of these classes. Lower layers (HTTP, SSH,
the file system) map their own exceptions onto this tree in one place each and
re-raise ``from`` the original, so callers catch ``FlowError`` and nothing else::

    FlowError
    ├── ValidationError                 bad input caught before any request
    │   └── PriceValidationError        a limit price below the market
    ├── ConfigurationError              missing or malformed configuration
    │   └── UnknownProviderError        no provider registered under that name
    ├── AuthenticationError             missing, wrong or revoked credentials
    ├── NotFoundError                   a task, volume, key or project that is not there
    │   └── TaskNotFoundError
    ├── ResourceError                   the cloud cannot give what was asked
    │   ├── InsufficientCapacityError   no capacity anywhere that fits
    │   └── QuotaExceededError          the project's quota would be exceeded
    ├── RateLimitedError                the API asked us to slow down
    ├── ProviderUnavailableError        the API is down or the circuit breaker is open
    ├── ProviderResponseError           the API answered something we cannot read
    ├── TaskStateError                  the operation does not fit the task's state
    ├── RemoteOperationError            a command, transfer or stream on an instance failed
    │   └── HostKeyMismatchError        an instance's SSH host key changed
    └── ScriptTooLargeError             a startup script that no strategy can deliver

Messages are one line, safe to show in a notebook, and never contain secrets. An
error that an HTTP exchange caused also carries it as fields (``error.http.status``,
``.method``, ``.path``), so code can branch on them without reading the message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpExchange:
    """The HTTP request an error came from, and the answer's status.

    Attributes:
        method: Upper-case HTTP method, e.g. ``GET``.
        path: Path of the request without the query (never a credential).
        status: HTTP status of the answer; ``None`` when no answer arrived.
    """

    method: str
    path: str
    status: int | None = None


class FlowError(Exception):
    """Base class of every flow_notebook error.

    Attributes:
        message: One line saying what went wrong.
        suggestion: One line saying what to do about it, or ``None``.
        http: The HTTP exchange that caused it, or ``None`` for other causes.
    """

    def __init__(self, message: str, *, suggestion: str | None = None) -> None:
        self.message = " ".join(str(message).split())
        self.suggestion = " ".join(suggestion.split()) if suggestion else None
        self.http: HttpExchange | None = None
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.suggestion:
            return f"{self.message} ({self.suggestion})"
        return self.message

    def one_line(self) -> str:
        """Returns the error as one line, with its class name, for a notebook."""
        return f"{type(self).__name__}: {self}"


class ValidationError(FlowError):
    """Bad input, caught before any request leaves this machine.

    Attributes:
        field: The name of the offending field, when one is known.
    """

    def __init__(
        self, message: str, *, field: str | None = None, suggestion: str | None = None
    ) -> None:
        self.field = field
        super().__init__(message, suggestion=suggestion)


class PriceValidationError(ValidationError):
    """A limit price that is malformed or below what the market asks."""


class ConfigurationError(FlowError):
    """Missing or malformed configuration (config file, environment variables)."""


class UnknownProviderError(ConfigurationError):
    """No provider is registered under the requested name."""


class AuthenticationError(FlowError):
    """Credentials are missing, wrong, expired or lack the permission asked for."""


class NotFoundError(FlowError):
    """A task, volume, SSH key, project or other resource does not exist."""


class TaskNotFoundError(NotFoundError):
    """No task has the given id."""


class ResourceError(FlowError):
    """The provider cannot give the resources that were asked for."""


class InsufficientCapacityError(ResourceError):
    """No region has capacity for the request at an acceptable price."""


class QuotaExceededError(ResourceError):
    """The request would exceed the project's quota."""


class RateLimitedError(FlowError):
    """The API rate limit was hit and retries did not get through.

    Attributes:
        retry_after: Seconds the API asked us to wait, when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, suggestion=suggestion)


class ProviderUnavailableError(FlowError):
    """The provider's API cannot be reached, fails, or the circuit breaker is open."""


class ProviderResponseError(FlowError):
    """The provider answered with something this client cannot interpret."""


class TaskStateError(FlowError):
    """The operation does not fit the task's current state (e.g. logs of a pending task)."""


class RemoteOperationError(FlowError):
    """A command, file transfer or log stream on an instance failed."""


class HostKeyMismatchError(RemoteOperationError):
    """An instance presented a host key different from the one recorded for it."""


class ScriptTooLargeError(FlowError):
    """A startup script exceeds every transfer strategy's size limit."""
