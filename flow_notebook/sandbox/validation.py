"""Validates every ``/v2/`` request's query and JSON body against the vendored spec.

The operation is found by method and path in the spec, so a new route is checked
without extra code. A request that fails gets what the real API (FastAPI) answers:
``422 {"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` (``HTTPValidationError``),
every problem listed. Paths the spec does not know pass through untouched.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import parse_qsl

from jsonschema.exceptions import ValidationError, best_match

from flow_notebook.sandbox.middleware import send_json
from flow_notebook.sandbox.spec import load_spec
from flow_notebook.sandbox.spec.schemas import Operation, Parameter, SpecIndex, schema_types

Problem = dict[str, Any]

# jsonschema keyword -> pydantic's error type (the names the real API answers with).
ERROR_TYPES = {
    "required": "missing",
    "additionalProperties": "extra_forbidden",
    "maxLength": "string_too_long",
    "minLength": "string_too_short",
    "pattern": "string_pattern_mismatch",
    "enum": "enum",
    "const": "literal_error",
    "minimum": "greater_than_equal",
    "exclusiveMinimum": "greater_than",
    "maximum": "less_than_equal",
    "exclusiveMaximum": "less_than",
    "minItems": "too_short",
    "maxItems": "too_long",
    "uniqueItems": "value_error",
    "format": "value_error",
}
TYPE_ERRORS = {
    "string": "string_type",
    "integer": "int_type",
    "number": "float_type",
    "boolean": "bool_type",
    "array": "list_type",
    "object": "dict_type",
}
TRUE_WORDS = {"true", "1", "yes", "on", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "f", "n"}


@functools.cache
def spec_index() -> SpecIndex:
    """Returns the index of the vendored spec (built once per process)."""
    return SpecIndex(load_spec())


class RequestValidator:
    """Checks one request against its operation in the spec.

    Args:
        index: The spec's operations and schemas.
    """

    def __init__(self, index: SpecIndex) -> None:
        self._index = index

    def problems(self, method: str, path: str, query_string: str, body: bytes) -> list[Problem]:
        """Returns every problem of the request (``[]`` when valid or not a spec operation)."""
        operation = self._index.find(method, path)
        if operation is None:
            return []
        return [
            *self._query_problems(operation, query_string),
            *self._body_problems(operation, body),
        ]

    def _query_problems(self, operation: Operation, query_string: str) -> list[Problem]:
        given: dict[str, list[str]] = {}
        for name, value in parse_qsl(query_string, keep_blank_values=True):
            given.setdefault(name, []).append(value)
        found: list[Problem] = []
        for param in operation.query:
            loc: list[str | int] = ["query", param.name]
            if param.name not in given:
                if param.required:
                    found.append(problem(loc, "Field required", "missing"))
                continue
            value = query_value(param, given[param.name])
            validator = self._index.validator(param.schema)
            found.extend(_convert(error, loc) for error in validator.iter_errors(value))
        return found

    def _body_problems(self, operation: Operation, body: bytes) -> list[Problem]:
        if operation.body_schema is None:
            return []
        if not body.strip():
            if operation.body_required:
                return [problem(["body"], "Field required", "missing")]
            return []
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            position = getattr(exc, "pos", 0)
            return [problem(["body", position], "JSON decode error", "json_invalid")]
        validator = self._index.validator(operation.body_schema)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path)))
        return [_convert(error, ["body"]) for error in errors]


def query_value(param: Parameter, raw: list[str]) -> Any:
    """Returns a query parameter's text as the JSON value its schema speaks of.

    Lists may be repeated or comma-separated; numbers and booleans are parsed when the
    schema asks for them; text that does not parse stays text so the schema refuses it.
    """
    if param.is_array:
        items_schema = _array_items(param.schema)
        texts = [part.strip() for text in raw for part in text.split(",") if part.strip()]
        return [_scalar(items_schema, text) for text in texts]
    return _scalar(param.schema, raw[-1])


def _array_items(schema: dict[str, Any]) -> dict[str, Any]:
    for option in [schema, *schema.get("anyOf", [])]:
        if "items" in option:
            items: dict[str, Any] = option["items"]
            return items
    return {}


def _scalar(schema: dict[str, Any], text: str) -> Any:
    types = schema_types(schema)
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    if "boolean" in types and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return text.lower() in TRUE_WORDS
    return text


def problem(loc: list[str | int], msg: str, kind: str) -> Problem:
    """Returns one ``ValidationError`` item of an ``HTTPValidationError`` body."""
    return {"loc": loc, "msg": msg, "type": kind}


def _convert(error: ValidationError, prefix: list[str | int]) -> Problem:
    error = _innermost(error)
    loc = [*prefix, *error.absolute_path]
    keyword = str(error.validator)
    if keyword in ("required", "additionalProperties"):
        # The only quoted name in these messages is the property's (never a value).
        name = error.message.split("'")[1] if "'" in error.message else ""
        if keyword == "required":
            return problem([*loc, name], "Field required", "missing")
        return problem([*loc, name], "Extra inputs are not permitted", "extra_forbidden")
    if keyword == "type":
        wanted = error.validator_value
        first = str(wanted[0] if isinstance(wanted, list) else wanted)
        kind = TYPE_ERRORS.get(first, "type_error")
        return problem(loc, f"Input should be a valid {first}", kind)
    return problem(
        loc, _message(keyword, error.validator_value), ERROR_TYPES.get(keyword, "value_error")
    )


def _innermost(error: ValidationError) -> ValidationError:
    """Returns the error of the branch that was meant when a nullable value is wrong."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        meant = [
            e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        deepest = best_match(meant or error.context)
        if deepest is None:
            break
        error = deepest
    return error


def _message(keyword: str, limit: Any) -> str:
    """Says what is wrong from the schema's rule alone: messages never repeat the input."""
    messages = {
        "maxLength": f"String should have at most {limit} characters",
        "minLength": f"String should have at least {limit} characters",
        "pattern": f"String should match pattern '{limit}'",
        "minimum": f"Input should be greater than or equal to {limit}",
        "exclusiveMinimum": f"Input should be greater than {limit}",
        "maximum": f"Input should be less than or equal to {limit}",
        "exclusiveMaximum": f"Input should be less than {limit}",
        "minItems": f"List should have at least {limit} items",
        "maxItems": f"List should have at most {limit} items",
        "format": f"Input should be a valid {limit}",
        "uniqueItems": "List items should be unique",
    }
    if keyword in ("enum", "const"):
        allowed = [v for v in (limit if keyword == "enum" else [limit]) if v is not None]
        return "Input should be " + " or ".join(repr(v) for v in allowed)
    return messages.get(keyword, "Invalid value")


class RequestValidation:
    """ASGI middleware that answers 422 for a ``/v2/`` request the spec refuses.

    Args:
        app: The routed application.
        validator: The spec's request checks.
    """

    def __init__(self, app: Any, validator: RequestValidator) -> None:
        self._app = app
        self._validator = validator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Handles one ASGI call."""
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self._app(scope, receive, send)
            return
        body = await _read_body(receive)
        query = scope.get("query_string", b"").decode("latin-1")
        found = self._validator.problems(scope["method"], scope["path"], query, body)
        if found:
            await send_json(send, 422, {"detail": found})
            return
        await self._app(scope, _replay(body, receive), send)


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away; the app sees that next
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """Returns a ``receive`` that gives the app the body already read, then the rest."""
    sent = {"done": False}

    async def replay() -> dict[str, Any]:
        if not sent["done"]:
            sent["done"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replay


ERROR_BODY = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array"}]}},
}
"""What an error the document does not describe (401, 404, 409, ...) answers."""


def response_problems(
    index: SpecIndex, method: str, path: str, status: int, content: bytes
) -> list[str]:
    """Returns how an answer differs from the spec (``[]`` when it conforms).

    A documented status must match its schema (no body where the document has none);
    an error status the document leaves out must still be ``{"detail": ...}``; a
    success status it leaves out is a problem.

    Args:
        index: The spec's operations.
        method: The request's method.
        path: The request's path (no query).
        status: The answer's status code.
        content: The answer's body.
    """
    operation = index.find(method, path)
    if operation is None:
        return [f"{method} {path} is not an operation of the spec"]
    where = f"{method} {operation.path} -> {status}"
    documented = str(status) in operation.responses
    schema = operation.responses.get(str(status))
    if schema is None and status >= 400:
        schema = ERROR_BODY
    if schema is None:
        if not documented:
            return [f"{where}: the spec lists no such answer"]
        return [] if not content.strip() else [f"{where}: the spec has no body here"]
    try:
        value = json.loads(content)
    except ValueError:
        return [f"{where}: body is not JSON"]
    return [
        f"{where}: {'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in index.validator(schema).iter_errors(value)
    ]
