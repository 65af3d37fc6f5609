"""The one place where Mithril HTTP failures become ``flow_notebook.core.errors``.

=================  ============================================================
HTTP answer        error
=================  ============================================================
no answer          ProviderUnavailableError (connection failed or timed out)
400 "Quota ..."    QuotaExceededError (detail starts with "Quota exceeded")
400, 413           ValidationError
401, 403           AuthenticationError
404, 410           NotFoundError
409                TaskStateError (the resource's state does not allow it)
408                ProviderUnavailableError
422                ValidationError, the spec's ``detail[].loc/msg`` on one line
429                RateLimitedError, with ``retry_after`` from ``Retry-After``
other 4xx          ProviderResponseError
5xx                ProviderUnavailableError
1xx, 3xx           ProviderResponseError
unreadable body    ProviderResponseError
=================  ============================================================

The quota answer is not in Mithril's OpenAPI document (it lists only 422 for
``POST /v2/spot/bids`` and ``POST /v2/volumes``); the API refuses a bid or volume
over quota with ``400 {"detail": "Quota exceeded: ..."}``, so the detail decides.

Messages are one line and pass through ``redact`` so that a secret the server
might echo back never reaches the user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TypeVar

from flow_notebook.core import errors
from flow_notebook.providers.mithril.api.transport import TransportError, TransportResponse

_MAX_DETAIL = 300
_AUTH_HINT = "set a valid key with MITHRIL_API_KEY or in the flow config"
_QUOTA_PREFIX = "quota exceeded"
_QUOTA_HINT = "free some of the project's quota (cancel bids, delete volumes) or ask for more"

E = TypeVar("E", bound=errors.FlowError)


def _from_http(error: E, method: str, path: str, status: int | None) -> E:
    error.http = errors.HttpExchange(method, path, status)
    return error


def redact(text: str, secrets: Iterable[str]) -> str:
    """Returns ``text`` with every non-empty secret replaced by stars."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "**********")
    return text


def error_for_transport(
    exc: TransportError, method: str, path: str, secrets: Iterable[str] = ()
) -> errors.ProviderUnavailableError:
    """Maps a failure without an HTTP answer onto ``ProviderUnavailableError``."""
    message = redact(f"Mithril API unreachable on {method} {path}: {exc}", secrets)
    error = errors.ProviderUnavailableError(message, suggestion="check the network and retry")
    return _from_http(error, method, path, None)


def error_for_response(
    response: TransportResponse,
    method: str,
    path: str,
    *,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> errors.FlowError:
    """Maps an HTTP answer with a non-2xx status onto the error tree.

    Args:
        response: The answer.
        method: HTTP method of the request, for the message.
        path: Path of the request, for the message.
        retry_after: Seconds from ``Retry-After``, for 429 answers.
        secrets: Strings that must not appear in the message.

    Returns:
        The error to raise, with ``http`` set.
    """
    error = _error_for_status(response, method, path, retry_after, tuple(secrets))
    return _from_http(error, method, path, response.status)


def _error_for_status(
    response: TransportResponse,
    method: str,
    path: str,
    retry_after: float | None,
    secrets: tuple[str, ...],
) -> errors.FlowError:
    status = response.status
    where = f"{method} {path}"
    detail = redact(_detail_text(response.body), secrets)
    suffix = f": {detail}" if detail else ""
    if status in (401, 403):
        what = "rejected the API key" if status == 401 else "denied access"
        return errors.AuthenticationError(
            f"Mithril API {what} (HTTP {status}) on {where}{suffix}", suggestion=_AUTH_HINT
        )
    if status in (404, 410):
        return errors.NotFoundError(f"not found (HTTP {status}): {where}{suffix}")
    if status == 409:
        return errors.TaskStateError(f"conflict with the current state on {where}{suffix}")
    if status == 422:
        return _validation_error(response.body, where, secrets)
    if status == 400 and detail.lower().startswith(_QUOTA_PREFIX):
        return errors.QuotaExceededError(
            f"Mithril API refused {where}: {detail}", suggestion=_QUOTA_HINT
        )
    if status in (400, 413):
        return errors.ValidationError(f"Mithril API refused {where} (HTTP {status}){suffix}")
    if status == 429:
        return errors.RateLimitedError(
            f"Mithril API rate limit hit on {where}",
            retry_after=retry_after,
            suggestion=f"wait {retry_after:g}s and retry" if retry_after else "wait and retry",
        )
    if status == 408 or 500 <= status <= 599:
        return errors.ProviderUnavailableError(
            f"Mithril API unavailable (HTTP {status}) on {where}{suffix}",
            suggestion="try again shortly",
        )
    return errors.ProviderResponseError(f"unexpected HTTP {status} from Mithril on {where}{suffix}")


def unreadable_body_error(
    method: str, path: str, reason: str, status: int | None = None
) -> errors.ProviderResponseError:
    """Returns the error for a success answer (of ``status``) whose body cannot be read."""
    error = errors.ProviderResponseError(
        f"Mithril API answered {method} {path} with an unreadable body: {reason}"
    )
    return _from_http(error, method, path, status)


def _validation_error(body: bytes, where: str, secrets: tuple[str, ...]) -> errors.ValidationError:
    parsed = _json_or_none(body)
    entries = parsed.get("detail") if isinstance(parsed, dict) else None
    if isinstance(entries, list) and entries:
        parts = [_entry_text(entry) for entry in entries]
        field = _entry_field(entries[0])
        message = redact(f"invalid request {where}: " + "; ".join(parts), secrets)
        return errors.ValidationError(_clip(message, 2 * _MAX_DETAIL), field=field)
    detail = redact(_detail_text(body), secrets)
    return errors.ValidationError(f"invalid request {where}" + (f": {detail}" if detail else ""))


def _entry_text(entry: object) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    loc = entry.get("loc") or []
    place = ".".join(str(part) for part in loc) if isinstance(loc, list) else str(loc)
    msg = str(entry.get("msg", "invalid"))
    return f"{place}: {msg}" if place else msg


def _entry_field(entry: object) -> str | None:
    if isinstance(entry, dict) and isinstance(entry.get("loc"), list) and entry["loc"]:
        return str(entry["loc"][-1])
    return None


def _detail_text(body: bytes) -> str:
    """Returns the server's explanation: ``detail`` or ``message`` of a JSON body, or text."""
    if not body:
        return ""
    parsed = _json_or_none(body)
    if isinstance(parsed, dict):
        for key in ("detail", "message", "error"):
            value = parsed.get(key)
            if isinstance(value, str):
                return _clip(value, _MAX_DETAIL)
            if isinstance(value, list):
                return _clip("; ".join(_entry_text(item) for item in value), _MAX_DETAIL)
        return ""
    if parsed is not None:
        return ""
    text = body.decode("utf-8", errors="replace")
    # An HTML error page says nothing useful in one line.
    return "" if text.lstrip().startswith("<") else _clip(text, _MAX_DETAIL)


def _json_or_none(body: bytes) -> object | None:
    try:
        parsed: object = json.loads(body)
        return parsed
    except (ValueError, UnicodeDecodeError):
        return None


def _clip(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
