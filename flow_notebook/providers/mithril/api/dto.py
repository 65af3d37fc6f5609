"""Pydantic models of the Mithril Compute API payloads.

Each class mirrors the component schema of the same name in Mithril's OpenAPI
document (``ValidationErrorModel`` is the spec's ``ValidationError``, renamed so it
cannot be confused with ``flow_notebook.core.errors.ValidationError``). Field names,
required fields, nullability and enum values follow the spec exactly;
``SPEC_NAMES`` maps every spec schema name to its class, and a test checks the
models against the document.

Request models forbid unknown fields, so a typo fails here rather than on the
server. Response models ignore unknown fields, so a newer API that adds fields
does not break this client.

Money comes in two shapes: bid and auction prices are dollar strings such as
``"$25.60"``; ``/v2/pricing/current`` answers in integer cents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BidStatus = Literal["Open", "Allocated", "Preempting", "Terminated", "Paused"]
BidDetailedStatus = Literal["Open", "Allocated", "Preempting", "Terminated", "Paused", "Relocating"]
InstanceStatus = Literal[
    "STATUS_NEW",
    "STATUS_CONFIRMED",
    "STATUS_INITIALIZING",
    "STATUS_STARTING",
    "STATUS_RUNNING",
    "STATUS_STOPPING",
    "STATUS_TERMINATED",
    "STATUS_RELOCATING",
    "STATUS_PREEMPTING",
    "STATUS_PREEMPTED",
    "STATUS_REPLACED",
    "STATUS_PAUSED",
    "STATUS_ERROR",
]
DiskInterface = Literal["Block", "File"]
SortDirection = Literal["asc", "desc"]
BidSortBy = Literal["created_at", "status"]
InstanceSortBy = Literal["created_at", "instance_status", "instance_type_fid"]
OrderType = Literal["Bid", "Reservation"]
BidHistoryEventType = Literal[
    "Placed",
    "Paused",
    "Resumed",
    "Terminated",
    "Allocated",
    "Preempted",
    "Limit Price Changed",
    "Memory Adjusted",
    "Volumes Attached",
    "Volumes Removed",
]

VOLUME_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
VOLUME_NAME_MAX_LENGTH = 64
# The spec bounds size_gb as (0 bytes, 2 PiB); 2 PiB expressed in GiB.
VOLUME_SIZE_GB_LIMIT = 2 * 1024 * 1024


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are an error."""

    # Inputs stay out of validation messages: a startup script may hold secrets.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    def to_json(self) -> dict[str, Any]:
        """Returns the body to send: JSON-ready, with unset optional (``None``) fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class ResponseModel(BaseModel):
    """Base of response bodies: unknown fields are ignored for forward compatibility."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


# --- Spot bids -------------------------------------------------------------------


class LaunchSpecificationModel(ResponseModel):
    """What each instance of a bid boots with.

    Used both in requests (inside ``CreateBidRequest``) and in responses (inside
    ``BidModel``), so it ignores unknown fields rather than rejecting them.
    """

    volumes: list[str]
    ssh_keys: list[str]
    startup_script: str | None = None
    kubernetes_cluster: str | None = None
    image_version: str | None = None
    memory_gb: int | None = None


class CreateBidRequest(RequestModel):
    """Body of ``POST /v2/spot/bids``; ``limit_price`` is a dollar string like ``"$25.60"``."""

    project: str
    region: str
    instance_type: str
    limit_price: str
    instance_quantity: int
    name: str
    launch_specification: LaunchSpecificationModel
    notification_email: str | None = None


class UpdateBidRequest(RequestModel):
    """Body of ``PATCH /v2/spot/bids/{bid_fid}``: only the fields that are set change."""

    limit_price: str | None = None
    paused: bool | None = None
    volumes: list[str] | None = None
    memory_gb: int | None = None


class BidModel(ResponseModel):
    """A spot bid."""

    fid: str
    name: str
    project: str
    created_by: str
    created_at: datetime
    deactivated_at: datetime | None = None
    limit_price: str
    instance_quantity: int
    instance_type: str
    region: str | None = None
    instances: list[str]
    launch_specification: LaunchSpecificationModel
    status: BidStatus


class GetBidsResponse(ResponseModel):
    """One page of ``GET /v2/spot/bids``."""

    data: list[BidModel]
    next_cursor: str | None = None


class BidStatusResponse(ResponseModel):
    """Answer of ``GET /v2/spot/bids/{bid_fid}/status`` (adds ``Relocating``)."""

    bid_fid: str
    status: BidDetailedStatus


class PersistentDiskChange(ResponseModel):
    """A volume attached to or removed from a bid."""

    attached: str | None = None
    removed: str | None = None


class BidHistoryEventModel(ResponseModel):
    """One event in a bid's history."""

    timestamp: datetime
    event_type: BidHistoryEventType
    limit_price: str | None = None
    user_id: str | None = None
    memory_gb: int | None = None
    persistent_disk_change: PersistentDiskChange | None = None


class BidHistoryResponse(ResponseModel):
    """Answer of ``GET /v2/spot/bids/{bid_fid}/history``."""

    bid_fid: str
    events: list[BidHistoryEventModel]


class AuctionModel(ResponseModel):
    """Spot capacity of one instance type in one region (``GET /v2/spot/availability``)."""

    fid: str
    instance_type: str
    region: str
    capacity: int
    last_instance_price: str
    lowest_allocated_price: str | None = None
    adjustable_memory: bool
    default_image_version: str | None = None


# --- Instances -------------------------------------------------------------------


class InstanceModel(ResponseModel):
    """One instance; ``ssh_destination`` is where to connect once it runs."""

    fid: str
    name: str
    project: str
    created_at: datetime
    created_by: str
    instance_type: str
    region: str | None = None
    bid: str | None = None
    reservation: str | None = None
    ssh_destination: str | None = None
    private_ip: str | None = None
    status: InstanceStatus


class GetInstancesResponse(ResponseModel):
    """One page of ``GET /v2/instances``."""

    data: list[InstanceModel]
    next_cursor: str | None = None


class InstanceStatusResponse(ResponseModel):
    """Answer of ``GET /v2/instances/{instance_fid}/status``."""

    fid: str
    name: str
    status: InstanceStatus
    bid: str | None = None
    reservation: str | None = None
    end_time: datetime | None = None


class InstanceTypeModel(ResponseModel):
    """An instance type of the catalogue (``GET /v2/instance-types``)."""

    fid: str
    name: str
    num_cpus: int
    cpu_type: str
    ram_gb: int
    num_gpus: int
    gpu_type: str
    gpu_memory_gb: int
    gpu_socket: str
    local_storage_gb: int
    network_type: str | None = None
    ib_count: int
    bridge_count: int


class ImageVersionModel(ResponseModel):
    """A boot image version."""

    image_version_fid: str
    image_version_name: str
    os: str
    kernel: str
    stable: bool
    supported_regions: list[str]
    deactivated_at: datetime | None = None
    nvidia_driver: str | None = None
    cuda: str | None = None
    cuda_toolkit: str | None = None
    nvidia_container_toolkit: str | None = None
    packages: str | None = None


# --- Volumes ---------------------------------------------------------------------


class VolumeModel(ResponseModel):
    """A storage volume; ``deleted_at`` is always present, ``None`` while it lives."""

    fid: str
    name: str
    region: str
    created_at: datetime
    deleted_at: datetime | None
    capacity_gb: int
    project: str
    interface: DiskInterface
    bids: list[str]
    reservations: list[str]
    attachments: dict[str, str]


class CreateVolumeRequest(RequestModel):
    """Body of ``POST /v2/volumes``."""

    name: str = Field(max_length=VOLUME_NAME_MAX_LENGTH, pattern=VOLUME_NAME_PATTERN)
    project: str
    disk_interface: DiskInterface
    region: str
    size_gb: int = Field(gt=0, lt=VOLUME_SIZE_GB_LIMIT)


class UpdateVolumeRequest(RequestModel):
    """Body of ``PATCH /v2/volumes/{volume_fid}``."""

    name: str = Field(max_length=VOLUME_NAME_MAX_LENGTH, pattern=VOLUME_NAME_PATTERN)


# --- Account: user, projects, SSH keys, quotas -------------------------------------


class MeResponse(ResponseModel):
    """The caller's profile (``GET /v2/me``)."""

    id: str
    fid: str
    email: str
    user_name: str | None = None
    organization_id: str
    organization_role: str | None = None


class TeammateResponse(ResponseModel):
    """A user visible to the caller (``GET /v2/me/teammates``)."""

    id: str
    fid: str
    user_name: str | None = None
    email: str | None = None
    organization_role: str | None = None
    project_ids: list[str]
    deactivated_at: datetime | None = None


class ProjectModel(ResponseModel):
    """A project (``GET /v2/projects``)."""

    fid: str
    name: str
    created_at: datetime


class NewSshKeyModel(ResponseModel):
    """A registered SSH key."""

    fid: str
    name: str
    project: str
    public_key: str
    created_at: datetime
    required: bool


class CreatedSshKeyModel(ResponseModel):
    """A key just created; ``private_key`` is set when the server generated the pair."""

    fid: str
    name: str
    project: str
    public_key: str
    created_at: datetime
    required: bool
    private_key: str | None = None

    def __repr_args__(self) -> Any:
        # A generated private key must not land in a log line through repr().
        for name, value in super().__repr_args__():
            yield name, ("**********" if name == "private_key" and value else value)


class ApiKeyModel(ResponseModel):
    """An API key as listed (never with its secret)."""

    fid: str
    name: str
    created_at: datetime
    expires_at: datetime
    deactivated_at: datetime | None = None
    snippet: str


class CreateApiKeyResponse(ApiKeyModel):
    """A key just created: the only answer that carries its ``secret``."""

    secret: str = Field(repr=False)


class CreateApiKeyRequest(RequestModel):
    """Body of ``POST /v2/api-keys``."""

    name: str
    expires_at: datetime


class CreateSshKeyRequest(RequestModel):
    """Body of ``POST /v2/ssh-keys``; without ``public_key`` the server generates a pair."""

    project: str
    name: str
    public_key: str | None = None
    required: bool = False


class UpdateSshKeyRequest(RequestModel):
    """Body of ``PATCH /v2/ssh-keys/{ssh_key_fid}``."""

    required: bool


class QuotaModel(ResponseModel):
    """One quota of a project (``GET /v2/quotas``)."""

    fid: str
    project: str
    instance_type: str | None = None
    product_type: str
    total_quantity: int = Field(ge=0)
    used_quantity: int = Field(ge=0)
    units: str
    name: str


# --- Pricing ---------------------------------------------------------------------


class CurrentPricesResponse(ResponseModel):
    """Answer of ``GET /v2/pricing/current``; every price is in cents."""

    spot_price_cents: int | None = None
    reserved_price_cents: int | None = None
    minimum_price_cents: int | None = None
    lowest_allocated_bid_cents: int | None = None
    dynamic_win_price_cents: int | None = None
    available_capacity: int | None = None
    total_capacity: int | None = None


class HistoricalPriceSeriesModel(ResponseModel):
    """Prices over time of one instance type in one region (prices as dollar strings)."""

    instance_type: str
    region: str
    timestamps: list[datetime]
    spot_prices: list[str]
    reserved_prices: list[str]
    region_disabled: bool = False


class HistoricalPricesResponseModel(ResponseModel):
    """Answer of ``GET /v2/pricing/history``."""

    series: list[HistoricalPriceSeriesModel]
    complete: bool = True


class InstancePricingEvent(ResponseModel):
    """A price period of an instance: cents per hour from ``start_time`` to ``end_time``."""

    price_cents: int
    start_time: datetime
    end_time: datetime | None


class InstancePricingHistory(ResponseModel):
    """The price periods of one instance."""

    instance_fid: str
    events: list[InstancePricingEvent]
    bid_fid: str | None = None
    reservation_fid: str | None = None


class InstancePricingHistoryResponse(ResponseModel):
    """Answer of ``GET /v2/instances/pricing/history``."""

    instances: list[InstancePricingHistory]
    next_cursor: str | None = None


class PricingEventModel(ResponseModel):
    """A change of an instance's status that affected what it costs."""

    id: str
    occurred_at: datetime
    instance_fid: str
    instance_name: str
    instance_status: InstanceStatus


# --- Reservations ----------------------------------------------------------------

ReservationStatus = Literal["Pending", "Active", "Paused", "Canceled", "Ended"]
ReservationEventType = Literal[
    "Placed", "Active", "Paused", "Resumed", "Canceled", "Ended", "Terms Set", "Terms Changed"
]


class ReservationOffer(ResponseModel):
    """One pricing offer of a quote; prices are dollar strings such as ``"$47.76"``."""

    key: str
    display_name: str
    unit_price: str
    return_buyback_price: str
    pause_buyback_price: str
    total_price: str
    total_etbp_value: str
    total_fubp_value: str
    option_premium: str


class ReservationQuoteResponse(ResponseModel):
    """Answer of ``GET /v2/reservation/quote``."""

    offers: list[ReservationOffer]


class AvailabilitySlotModel(ResponseModel):
    """A window with ``quantity`` reservable instances (``GET /v2/reservation/availability``)."""

    start_time: datetime
    end_time: datetime
    quantity: int


class PriceSpecification(RequestModel):
    """Which offer of the quote a reservation takes (default ``standard``)."""

    offer_key: str = "standard"
    max_unit_price: int | None = Field(default=None, ge=0)


class CreateReservationRequest(RequestModel):
    """Body of ``POST /v2/reservation``."""

    project: str
    instance_type: str
    region: str
    start_time: datetime
    end_time: datetime
    instance_quantity: int
    name: str
    launch_specification: LaunchSpecificationModel
    price_specification: PriceSpecification | None = None
    notification_email: str | None = None


class ReservationModel(ResponseModel):
    """A reservation: ``instance_quantity`` instances held from ``start_time`` to ``end_time``."""

    fid: str
    name: str
    project: str
    created_by: str
    created_at: datetime
    deactivated_at: datetime | None = None
    instance_quantity: int
    instance_type: str
    region: str | None = None
    instances: list[str]
    launch_specification: LaunchSpecificationModel
    status: ReservationStatus
    start_time: datetime
    end_time: datetime
    total_price: str
    unit_price: str


class GetReservationsResponse(ResponseModel):
    """One page of ``GET /v2/reservation``."""

    data: list[ReservationModel]
    next_cursor: str | None = None


class ExtensionAvailabilityResponse(ResponseModel):
    """How far a reservation can be extended."""

    latest_extension_time: datetime
    available: bool


class ExtendReservationRequest(RequestModel):
    """Body of ``POST /v2/reservation/{fid}/extend``."""

    end_time: datetime
    price_specification: PriceSpecification | None = None


class TerminateInstanceRequest(RequestModel):
    """Body of ``POST /v2/reservation/{fid}/terminate-instances`` (capacity is given back)."""

    instances: list[str] = Field(min_length=1)
    reduce_capacity: bool


class TerminateInstanceResponsePartialSuccess(ResponseModel):
    """A 207 answer: only these instances were terminated."""

    terminated_instances: list[str]


class ReservationHistoryEventModel(ResponseModel):
    """One event of a reservation; prices and credits in cents."""

    timestamp: datetime
    event_type: ReservationEventType
    user_id: str | None = None
    unit_price_cents: int | None = None
    pause_credit_cents: int | None = None
    return_credit_cents: int | None = None


class ReservationHistoryResponse(ResponseModel):
    """Answer of ``GET /v2/reservation/{fid}/history``, oldest event first."""

    reservation_fid: str
    events: list[ReservationHistoryEventModel]


class ReservationInfoModel(ResponseModel):
    """The reservation as the usage report sees it."""

    fid: str
    order_name: str
    start_date: datetime
    end_date: datetime
    status: Literal["Open", "Allocated", "Preempting", "Terminated", "Paused"]
    committed_cost_cents: int


class UsageSummaryModel(ResponseModel):
    """Money (cents) and instance hours (ISO 8601 durations) of a reservation so far."""

    committed_cost_cents: int
    flex_use_credits_cents: int
    early_termination_credits_cents: int
    net_cost_cents: int
    reserved_instance_hours: str
    active_instance_hours: str
    idle_instance_hours: str
    as_of: datetime


class GrantUsageModel(ResponseModel):
    """A stretch of the reservation bought at one unit price (cents per instance-hour)."""

    fid: str
    starts_at: datetime
    ends_at: datetime
    quantity: int
    unit_price: int
    price_credit: int
    return_credit: int


class ReservationLevelEventModel(ResponseModel):
    """A change of the whole reservation (started, paused, extended)."""

    occurred_at: datetime
    event_type: Literal["Started", "Paused", "Extended"]
    reservation_name: str


class ReservationUsageResponse(ResponseModel):
    """Answer of ``GET /v2/reservation/{fid}/usage``."""

    reservation: ReservationInfoModel
    summary: UsageSummaryModel
    grants: list[GrantUsageModel]
    pricing_events: list[PricingEventModel]
    reservation_events: list[ReservationLevelEventModel]


# --- Errors ----------------------------------------------------------------------


class ValidationErrorModel(ResponseModel):
    """One entry of a 422 answer (the spec's ``ValidationError``)."""

    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(ResponseModel):
    """Body of a 422 answer."""

    detail: list[ValidationErrorModel] = Field(default_factory=list)


SPEC_NAMES: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (
        LaunchSpecificationModel,
        CreateBidRequest,
        UpdateBidRequest,
        BidModel,
        GetBidsResponse,
        BidStatusResponse,
        PersistentDiskChange,
        BidHistoryEventModel,
        BidHistoryResponse,
        AuctionModel,
        InstanceModel,
        GetInstancesResponse,
        InstanceStatusResponse,
        InstanceTypeModel,
        ImageVersionModel,
        VolumeModel,
        CreateVolumeRequest,
        UpdateVolumeRequest,
        MeResponse,
        TeammateResponse,
        ProjectModel,
        NewSshKeyModel,
        CreatedSshKeyModel,
        CreateSshKeyRequest,
        UpdateSshKeyRequest,
        QuotaModel,
        CurrentPricesResponse,
        HistoricalPriceSeriesModel,
        HistoricalPricesResponseModel,
        PricingEventModel,
        InstancePricingEvent,
        InstancePricingHistory,
        InstancePricingHistoryResponse,
        ApiKeyModel,
        CreateApiKeyResponse,
        CreateApiKeyRequest,
        ReservationOffer,
        ReservationQuoteResponse,
        AvailabilitySlotModel,
        PriceSpecification,
        CreateReservationRequest,
        ReservationModel,
        GetReservationsResponse,
        ExtensionAvailabilityResponse,
        ExtendReservationRequest,
        TerminateInstanceRequest,
        TerminateInstanceResponsePartialSuccess,
        ReservationHistoryEventModel,
        ReservationHistoryResponse,
        ReservationInfoModel,
        UsageSummaryModel,
        GrantUsageModel,
        ReservationLevelEventModel,
        ReservationUsageResponse,
        HTTPValidationError,
    )
}
SPEC_NAMES["ValidationError"] = ValidationErrorModel
"""Spec component schema name -> model class, for every model in this module."""

SPEC_ENUMS: dict[str, Any] = {"SortDirection": SortDirection}
"""Spec enum schema name -> ``Literal`` type, for the enums the client sends."""
