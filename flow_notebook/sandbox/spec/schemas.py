"""The spec's schemas as JSON Schema 2020-12, and its operations found by method and path.

Mithril's document says ``openapi: 3.1.0`` but marks optional values the 3.0 way
(``"nullable": true``); ``normalize`` rewrites those so a JSON Schema validator reads
them as the API means them. ``REAL_API_RULES`` adds the rules the real API enforces
that the document does not state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:mithril:openapi"
ANNOTATIONS = ("title", "description", "default", "examples")
STARTUP_SCRIPT_MAX_CHARS = 10_000
"""The real API refuses a ``startup_script`` longer than this (characters)."""

REAL_API_RULES: dict[str, dict[str, Any]] = {
    # Unknown launch-specification fields are refused, not dropped, and the script
    # has a size limit; neither is written in the document.
    "LaunchSpecificationModel": {
        "additionalProperties": False,
        "properties": {"startup_script": {"maxLength": STARTUP_SCRIPT_MAX_CHARS}},
    },
    # The document's bounds on size_gb are pydantic ByteSize leftovers ({"gt": {...}}).
    "CreateVolumeRequest": {
        "properties": {"size_gb": {"type": "integer", "exclusiveMinimum": 0}},
    },
}


def normalize(schema: Any) -> Any:
    """Returns ``schema`` with every ``"nullable": true`` turned into a JSON Schema null option.

    Args:
        schema: Any part of the OpenAPI document.

    Returns:
        A rewritten copy; the input is left unchanged.
    """
    if isinstance(schema, list):
        return [normalize(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: normalize(value) for key, value in schema.items() if key != "nullable"}
    if not schema.get("nullable"):
        return out
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types if "null" in types else [*types, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    if "type" in out or "enum" in out:
        return out
    if not any(key in out for key in ("$ref", "anyOf", "oneOf", "allOf")):
        return out  # unconstrained: null is already allowed
    notes = {k: v for k, v in out.items() if k in ANNOTATIONS}
    base = {k: v for k, v in out.items() if k not in ANNOTATIONS}
    return {**notes, "anyOf": [base, {"type": "null"}]}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None or "T" in value


FORMATS = FormatChecker()
# The document writes "datetime" for request times and "date-time" for answers.
FORMATS.checks("datetime")(_is_datetime)
FORMATS.checks("date-time")(_is_datetime)


@dataclass(frozen=True)
class Parameter:
    """One query parameter of an operation.

    Attributes:
        name: Its name in the query string.
        required: Whether the API refuses a request without it.
        schema: Its normalized JSON Schema.
    """

    name: str
    required: bool
    schema: dict[str, Any]

    @property
    def is_array(self) -> bool:
        """Whether the parameter is a list (repeated or comma-separated)."""
        return "array" in schema_types(self.schema)


@dataclass(frozen=True)
class Operation:
    """One operation of the document.

    Attributes:
        method: Upper-case HTTP method.
        path: The path template, e.g. ``/v2/spot/bids/{bid_fid}``.
        operation_id: The document's ``operationId``.
        query: Its query parameters.
        body_schema: Normalized schema of the JSON body, ``None`` when it takes none.
        body_required: Whether the body must be present.
        responses: Normalized response schemas by status code (``None``: no body).
    """

    method: str
    path: str
    operation_id: str
    query: tuple[Parameter, ...] = ()
    body_schema: dict[str, Any] | None = None
    body_required: bool = False
    responses: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(default=re.compile(""), compare=False)


def schema_types(schema: dict[str, Any]) -> list[str]:
    """Returns the JSON types a normalized schema admits (``[]`` when unconstrained)."""
    found: list[str] = []
    for option in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        declared = option.get("type")
        if isinstance(declared, str):
            found.append(declared)
        elif isinstance(declared, list):
            found.extend(declared)
        if "enum" in option and "type" not in option:
            found.append("string")
    return found


class SpecIndex:
    """The document's operations and schemas, ready for validation.

    Args:
        document: The OpenAPI document (``load_spec()``).
    """

    def __init__(self, document: dict[str, Any]) -> None:
        spec = normalize(document)
        schemas = spec["components"]["schemas"]
        for name, rules in REAL_API_RULES.items():
            schemas[name] = _merge(schemas[name], rules)
        self.document = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self.operations = list(_operations(spec))

    def find(self, method: str, path: str) -> Operation | None:
        """Returns the operation serving ``method`` at ``path``, or ``None``.

        A literal path wins over a template (``/v2/instances/status/history`` is not
        ``/v2/instances/{instance_fid}/status``).
        """
        matches = [
            op for op in self.operations if op.method == method.upper() and op.pattern.match(path)
        ]
        matches.sort(key=lambda op: op.path.count("{"))
        return matches[0] if matches else None

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        """Returns a validator of ``schema`` whose ``$ref`` resolve inside the document."""
        rooted = {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema"}
        rooted = _absolute_refs(rooted)
        return Draft202012Validator(rooted, registry=self._registry, format_checker=FORMATS)

    def component(self, name: str) -> dict[str, Any]:
        """Returns the normalized component schema ``name``."""
        schema: dict[str, Any] = self.document["components"]["schemas"][name]
        return schema


def _absolute_refs(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_absolute_refs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _absolute_refs(value) for key, value in schema.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        out["$ref"] = SPEC_URI + ref
    return out


def _operations(spec: dict[str, Any]) -> Iterator[Operation]:
    for path, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, op in item.items():
            if not isinstance(op, dict) or method.startswith("x-"):
                continue
            body = op.get("requestBody") or {}
            content = (body.get("content") or {}).get("application/json") or {}
            yield Operation(
                method=method.upper(),
                path=path,
                operation_id=op.get("operationId", f"{method} {path}"),
                query=tuple(
                    Parameter(p["name"], bool(p.get("required")), p.get("schema", {}))
                    for p in op.get("parameters", [])
                    if p.get("in") == "query"
                ),
                body_schema=content.get("schema"),
                body_required=bool(body.get("required")),
                responses={
                    status: ((answer.get("content") or {}).get("application/json") or {}).get(
                        "schema"
                    )
                    for status, answer in op.get("responses", {}).items()
                },
                pattern=pattern,
            )
