"""The Mithril HTTP API layer: payload models (``dto``) and the typed ``ApiClient``.

Only this package knows HTTP. Services above it call ``ApiClient`` methods and get
``dto`` models back, or ``flow_notebook.core.errors`` exceptions. Importing it
does not import ``requests``; the default transport does so on first use.

Modules: ``dto`` (payloads), ``client`` (endpoints), ``base`` (typed calls and
paging), ``http_core`` (auth, retries, breaker), ``retry``, ``breaker``,
``errors_map`` (HTTP failures -> error tree), ``transport`` (the HTTP seam and
``MockTransport`` for tests).
"""

from flow_notebook.providers.mithril.api.breaker import CircuitBreaker
from flow_notebook.providers.mithril.api.client import ApiClient
from flow_notebook.providers.mithril.api.retry import RetryPolicy
from flow_notebook.providers.mithril.api.transport import (
    MockTransport,
    RequestsTransport,
    Transport,
    TransportError,
    TransportRequest,
    TransportResponse,
)

__all__ = [
    "ApiClient",
    "CircuitBreaker",
    "MockTransport",
    "RequestsTransport",
    "RetryPolicy",
    "Transport",
    "TransportError",
    "TransportRequest",
    "TransportResponse",
]
