"""The Mithril DTOs match the component schemas of Mithril's OpenAPI document."""

from __future__ import annotations

import types
import typing

import pydantic
import pytest
from annotated_types import Ge, Gt, MaxLen
from pydantic import BaseModel

from flow_notebook.providers.mithril.api import dto
from flow_notebook.sandbox.spec import load_spec

REQUIRED_SCHEMAS = [
    "BidModel",
    "CreateBidRequest",
    "UpdateBidRequest",
    "LaunchSpecificationModel",
    "GetBidsResponse",
    "BidStatusResponse",
    "AuctionModel",
    "InstanceModel",
    "GetInstancesResponse",
    "InstanceTypeModel",
    "VolumeModel",
    "CreateVolumeRequest",
    "UpdateVolumeRequest",
    "ProjectModel",
    "MeResponse",
    "NewSshKeyModel",
    "CreatedSshKeyModel",
    "CreateSshKeyRequest",
    "UpdateSshKeyRequest",
    "CurrentPricesResponse",
    "HistoricalPricesResponseModel",
    "HistoricalPriceSeriesModel",
    "PricingEventModel",
    "QuotaModel",
    "HTTPValidationError",
    "ValidationError",
]


SCHEMAS: dict[str, dict] = load_spec()["components"]["schemas"]


def _ref_name(prop: dict) -> str | None:
    ref = prop.get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _spec_nullable(prop: dict) -> bool:
    if prop.get("nullable"):
        return True
    if "null" in (prop.get("type") if isinstance(prop.get("type"), list) else []):
        return True
    return any(option.get("type") == "null" for option in prop.get("anyOf", []))


def _spec_enum(prop: dict) -> set[str] | None:
    """Enum values of a property, its array items, map values or referenced enum."""
    for candidate in (prop, prop.get("items", {}), prop.get("additionalProperties") or {}):
        if not isinstance(candidate, dict):
            continue
        if "enum" in candidate:
            return set(candidate["enum"])
        name = _ref_name(candidate)
        if name and "enum" in SCHEMAS[name]:
            return set(SCHEMAS[name]["enum"])
    return None


def _walk(annotation: object):
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _walk(arg)


def _model_enum(annotation: object) -> set[str] | None:
    for part in _walk(annotation):
        if typing.get_origin(part) is typing.Literal:
            return set(typing.get_args(part))
    return None


def _model_nullable(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _model_classes(annotation: object) -> set[str]:
    return {
        part.__name__
        for part in _walk(annotation)
        if isinstance(part, type) and issubclass(part, BaseModel)
    }


def _spec_name_of(cls: type[BaseModel]) -> str:
    return next(name for name, model in dto.SPEC_NAMES.items() if model is cls)


CASES = sorted(dto.SPEC_NAMES)


def test_every_schema_the_provider_needs_has_a_model():
    missing = [name for name in REQUIRED_SCHEMAS if name not in dto.SPEC_NAMES]
    assert missing == []


@pytest.mark.parametrize("schema_name", CASES)
def test_model_has_the_schema_field_names(schema_name):
    model = dto.SPEC_NAMES[schema_name]
    assert set(model.model_fields) == set(SCHEMAS[schema_name]["properties"])


@pytest.mark.parametrize("schema_name", CASES)
def test_model_requires_exactly_the_schema_required_fields(schema_name):
    model = dto.SPEC_NAMES[schema_name]
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert required == set(SCHEMAS[schema_name].get("required", []))


@pytest.mark.parametrize("schema_name", CASES)
def test_model_allows_null_exactly_where_the_schema_does(schema_name):
    model = dto.SPEC_NAMES[schema_name]
    properties = SCHEMAS[schema_name]["properties"]
    nullable = {name for name, prop in properties.items() if _spec_nullable(prop)}
    allows_none = {
        name for name, field in model.model_fields.items() if _model_nullable(field.annotation)
    }
    assert allows_none == nullable


@pytest.mark.parametrize("schema_name", CASES)
def test_model_enums_have_exactly_the_schema_values(schema_name):
    model = dto.SPEC_NAMES[schema_name]
    for name, prop in SCHEMAS[schema_name]["properties"].items():
        expected = _spec_enum(prop)
        actual = _model_enum(model.model_fields[name].annotation)
        assert actual == expected, f"{schema_name}.{name}"


@pytest.mark.parametrize("schema_name", CASES)
def test_model_nests_the_models_the_schema_references(schema_name):
    model = dto.SPEC_NAMES[schema_name]
    for name, prop in SCHEMAS[schema_name]["properties"].items():
        ref = _ref_name(prop) or _ref_name(prop.get("items", {}))
        if ref is None or "enum" in SCHEMAS[ref]:
            continue
        nested = _model_classes(model.model_fields[name].annotation)
        assert {_spec_name_of(dto.SPEC_NAMES[ref])} == {
            _spec_name_of(getattr(dto, cls)) for cls in nested
        }, f"{schema_name}.{name}"


@pytest.mark.parametrize("schema_name", CASES)
def test_model_keeps_the_schema_string_and_number_constraints(schema_name):
    model = dto.SPEC_NAMES[schema_name]
    for name, prop in SCHEMAS[schema_name]["properties"].items():
        field = model.model_fields[name]
        if "pattern" in prop:
            patterns = [getattr(m, "pattern", None) for m in field.metadata]
            assert prop["pattern"] in patterns, f"{schema_name}.{name}"
        if "maxLength" in prop:
            assert MaxLen(prop["maxLength"]) in field.metadata, f"{schema_name}.{name}"
        if "minimum" in prop:
            assert Ge(int(prop["minimum"])) in field.metadata, f"{schema_name}.{name}"


def test_spec_enums_sent_as_query_parameters_match():
    for name, literal in dto.SPEC_ENUMS.items():
        assert set(typing.get_args(literal)) == set(SCHEMAS[name]["enum"])


def test_request_models_reject_unknown_fields_and_response_models_ignore_them():
    with pytest.raises(pydantic.ValidationError):
        dto.UpdateBidRequest(paused=True, pause=True)
    project = dto.ProjectModel.model_validate(
        {"fid": "proj_1", "name": "p", "created_at": "2024-01-01T00:00:00Z", "new_field": 1}
    )
    assert project.fid == "proj_1"
    assert not hasattr(project, "new_field")


@pytest.mark.parametrize("name", ["Data", "1data", "data-", "da_ta", "x" * 65, ""])
def test_volume_names_outside_the_spec_pattern_are_rejected(name):
    with pytest.raises(pydantic.ValidationError):
        dto.CreateVolumeRequest(
            name=name, project="proj_1", disk_interface="Block", region="r", size_gb=1
        )


def test_volume_size_must_be_positive():
    assert Gt(0) in dto.CreateVolumeRequest.model_fields["size_gb"].metadata
    with pytest.raises(pydantic.ValidationError):
        dto.CreateVolumeRequest(
            name="data", project="proj_1", disk_interface="Block", region="r", size_gb=0
        )


def test_request_body_leaves_out_fields_that_are_not_set():
    assert dto.UpdateBidRequest(paused=True).to_json() == {"paused": True}
    body = dto.CreateBidRequest(
        project="proj_1",
        region="us-central1-a",
        instance_type="it_1",
        limit_price="$25.60",
        instance_quantity=1,
        name="flow-task",
        launch_specification=dto.LaunchSpecificationModel(volumes=[], ssh_keys=["sshkey_1"]),
    ).to_json()
    assert body["launch_specification"] == {"volumes": [], "ssh_keys": ["sshkey_1"]}
    assert "notification_email" not in body
    assert body["limit_price"] == "$25.60"


def test_bid_parses_from_a_spec_shaped_payload():
    bid = dto.BidModel.model_validate(
        {
            "fid": "bid_1",
            "name": "flow-task",
            "project": "proj_1",
            "created_by": "user_1",
            "created_at": "2024-01-01T00:00:00+00:00",
            "limit_price": "$15.60",
            "instance_quantity": 2,
            "instance_type": "it_1",
            "instances": ["inst_1", "inst_2"],
            "launch_specification": {"volumes": [], "ssh_keys": []},
            "status": "Allocated",
        }
    )
    assert bid.status == "Allocated"
    assert bid.created_at.year == 2024
    assert bid.region is None


def test_unknown_bid_status_is_rejected():
    with pytest.raises(pydantic.ValidationError):
        dto.BidStatusResponse(bid_fid="bid_1", status="Running")


def test_generated_private_key_does_not_appear_in_repr():
    key = dto.CreatedSshKeyModel(
        fid="sshkey_1",
        name="k",
        project="proj_1",
        public_key="ssh-ed25519 AAAA",
        created_at="2024-01-01T00:00:00Z",
        required=False,
        private_key="-----BEGIN OPENSSH PRIVATE KEY-----secretbits",
    )
    assert "secretbits" not in repr(key)
    assert "secretbits" not in str(key)
    assert key.private_key.endswith("secretbits")
