"""``ApiClient``: one typed method per Mithril API endpoint the provider uses.

Methods return ``dto`` models and raise only ``flow_notebook.core.errors`` classes.
What is retried: GET, PATCH and DELETE calls, on connection failures and on
429/500/502/503/504 answers (``Retry-After`` honoured). POSTs that create a bid,
volume or SSH key are sent once (or again after a 429, which refuses unprocessed),
since a retry could create a duplicate; pass
``idempotent=True`` to ``create_bid`` only when the caller dedupes (e.g. by a
unique bid name). The API key never appears in ``repr``, logs or error messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.api.base import ApiClientBase, fid_segment


class ApiClient(ApiClientBase):
    """Typed client of the Mithril Compute API (see ``ApiClientBase`` for arguments)."""

    # --- account -------------------------------------------------------------------

    def get_me(self) -> dto.MeResponse:
        """Returns the caller's profile (``GET /v2/me``)."""
        return self.call("GET", "/v2/me", dto.MeResponse)

    def list_teammates(self) -> list[dto.TeammateResponse]:
        """Returns the users visible to the caller (``GET /v2/me/teammates``)."""
        return self.call("GET", "/v2/me/teammates", list[dto.TeammateResponse])

    def list_projects(self) -> list[dto.ProjectModel]:
        """Returns the caller's projects (``GET /v2/projects``)."""
        return self.call("GET", "/v2/projects", list[dto.ProjectModel])

    def get_quotas(self, project: str) -> list[dto.QuotaModel]:
        """Returns the quotas of ``project`` (``GET /v2/quotas``)."""
        return self.call("GET", "/v2/quotas", list[dto.QuotaModel], params={"project": project})

    # --- catalogue and prices ------------------------------------------------------

    def list_instance_types(self) -> list[dto.InstanceTypeModel]:
        """Returns the instance type catalogue (``GET /v2/instance-types``)."""
        return self.call("GET", "/v2/instance-types", list[dto.InstanceTypeModel])

    def list_spot_availability(self) -> list[dto.AuctionModel]:
        """Returns spot capacity and prices per type and region (``GET /v2/spot/availability``)."""
        return self.call("GET", "/v2/spot/availability", list[dto.AuctionModel])

    def get_current_prices(
        self, instance_type: str, *, region: str | None = None, instance_quantity: int | None = None
    ) -> dto.CurrentPricesResponse:
        """Returns current prices, in cents, of an instance type (``GET /v2/pricing/current``)."""
        params = {
            "instance_type": instance_type,
            "region": region,
            "instance_quantity": instance_quantity,
        }
        return self.call("GET", "/v2/pricing/current", dto.CurrentPricesResponse, params=params)

    def get_price_history(
        self,
        *,
        instance_types: str | Sequence[str] | None = None,
        region: str | None = None,
        num_samples: int | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> dto.HistoricalPricesResponseModel:
        """Returns price series for charts (``GET /v2/pricing/history``)."""
        params = {
            "instance_types": instance_types,
            "region": region,
            "num_samples": num_samples,
            "start_time": start_time,
            "end_time": end_time,
        }
        return self.call(
            "GET", "/v2/pricing/history", dto.HistoricalPricesResponseModel, params=params
        )

    def get_instance_pricing_history(
        self, project: str, *, bid_fid: str, limit: int = 100, next_cursor: str | None = None
    ) -> dto.InstancePricingHistoryResponse:
        """Returns a bid's instances' price periods (``GET /v2/instances/pricing/history``)."""
        params = {
            "project": project,
            "bid_fid": bid_fid,
            "limit": limit,
            "next_cursor": next_cursor,
        }
        return self.call(
            "GET",
            "/v2/instances/pricing/history",
            dto.InstancePricingHistoryResponse,
            params=params,
        )

    # --- spot bids -----------------------------------------------------------------

    def list_bids(
        self,
        project: str | None = None,
        *,
        status: dto.BidStatus | None = None,
        name: str | None = None,
        instance_type: str | None = None,
        region: str | None = None,
        limit: int | None = None,
        next_cursor: str | None = None,
        sort_by: dto.BidSortBy | None = None,
        sort_dir: dto.SortDirection | None = None,
    ) -> dto.GetBidsResponse:
        """Returns one page of bids (``GET /v2/spot/bids``); ``limit`` is 1 to 100."""
        params = _bid_filters(project, status, name, instance_type, region, sort_by, sort_dir)
        params.update(limit=limit, next_cursor=next_cursor)
        return self.call("GET", "/v2/spot/bids", dto.GetBidsResponse, params=params)

    def iter_bids(
        self,
        project: str | None = None,
        *,
        status: dto.BidStatus | None = None,
        name: str | None = None,
        instance_type: str | None = None,
        region: str | None = None,
        page_size: int | None = None,
        sort_by: dto.BidSortBy | None = None,
        sort_dir: dto.SortDirection | None = None,
    ) -> Iterator[dto.BidModel]:
        """Yields every matching bid, fetching pages of ``page_size`` as needed."""
        params = _bid_filters(project, status, name, instance_type, region, sort_by, sort_dir)
        params["limit"] = page_size
        return self.paginate("/v2/spot/bids", params, dto.GetBidsResponse)

    def create_bid(
        self, request: dto.CreateBidRequest, *, idempotent: bool = False
    ) -> dto.BidModel:
        """Places a spot bid (``POST /v2/spot/bids``).

        Args:
            request: The bid.
            idempotent: Allow retries; only when a repeat cannot create a second
                bid (the caller checks for its unique name before retrying).

        Returns:
            The created bid.
        """
        return self.call("POST", "/v2/spot/bids", dto.BidModel, body=request, idempotent=idempotent)

    def get_bid(self, bid_fid: str) -> dto.BidModel:
        """Returns one bid (``GET /v2/spot/bids/{bid_fid}``)."""
        return self.call("GET", f"/v2/spot/bids/{fid_segment(bid_fid)}", dto.BidModel)

    def update_bid(self, bid_fid: str, request: dto.UpdateBidRequest) -> dto.BidModel:
        """Changes a bid's price, pause state, volumes or memory (``PATCH``; retried)."""
        path = f"/v2/spot/bids/{fid_segment(bid_fid)}"
        return self.call("PATCH", path, dto.BidModel, body=request)

    def cancel_bid(self, bid_fid: str) -> None:
        """Cancels a bid (``DELETE /v2/spot/bids/{bid_fid}``; retried)."""
        self.call("DELETE", f"/v2/spot/bids/{fid_segment(bid_fid)}", None)

    def get_bid_status(self, bid_fid: str) -> dto.BidStatusResponse:
        """Returns a bid's detailed status (``GET /v2/spot/bids/{bid_fid}/status``)."""
        path = f"/v2/spot/bids/{fid_segment(bid_fid)}/status"
        return self.call("GET", path, dto.BidStatusResponse)

    def get_bid_history(self, bid_fid: str) -> dto.BidHistoryResponse:
        """Returns a bid's events (``GET /v2/spot/bids/{bid_fid}/history``)."""
        path = f"/v2/spot/bids/{fid_segment(bid_fid)}/history"
        return self.call("GET", path, dto.BidHistoryResponse)

    # --- instances -----------------------------------------------------------------

    def list_instances(
        self,
        project: str,
        *,
        bid_fid_in: Sequence[str] | None = None,
        reservation_fid_in: Sequence[str] | None = None,
        status_in: Sequence[dto.InstanceStatus] | None = None,
        instance_type: str | None = None,
        region: str | None = None,
        limit: int | None = None,
        next_cursor: str | None = None,
        sort_by: dto.InstanceSortBy | None = None,
        sort_dir: dto.SortDirection | None = None,
    ) -> dto.GetInstancesResponse:
        """Returns one page of a project's instances (``GET /v2/instances``)."""
        params = _instance_filters(
            project, bid_fid_in, status_in, instance_type, region, sort_by, sort_dir
        )
        params.update(
            limit=limit, next_cursor=next_cursor, reservation_fid_in=_listed(reservation_fid_in)
        )
        return self.call("GET", "/v2/instances", dto.GetInstancesResponse, params=params)

    def iter_instances(
        self,
        project: str,
        *,
        bid_fid_in: Sequence[str] | None = None,
        reservation_fid_in: Sequence[str] | None = None,
        status_in: Sequence[dto.InstanceStatus] | None = None,
        instance_type: str | None = None,
        region: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[dto.InstanceModel]:
        """Yields every matching instance of a project, page by page."""
        params = _instance_filters(project, bid_fid_in, status_in, instance_type, region)
        params.update(limit=page_size, reservation_fid_in=_listed(reservation_fid_in))
        return self.paginate("/v2/instances", params, dto.GetInstancesResponse)

    def get_instance_status(self, instance_fid: str) -> dto.InstanceStatusResponse:
        """Returns an instance's status (``GET /v2/instances/{instance_fid}/status``)."""
        path = f"/v2/instances/{fid_segment(instance_fid)}/status"
        return self.call("GET", path, dto.InstanceStatusResponse)

    # --- reservations --------------------------------------------------------------

    def get_reservation_quote(
        self,
        project: str,
        *,
        instance_type: str,
        region: str,
        start_time: datetime,
        end_time: datetime,
        quantity: int,
    ) -> dto.ReservationQuoteResponse:
        """Returns the price offers of a window (``GET /v2/reservation/quote``)."""
        params = {
            "project": project,
            "instance_type": instance_type,
            "region": region,
            "start_time": start_time,
            "end_time": end_time,
            "quantity": quantity,
        }
        return self.call(
            "GET", "/v2/reservation/quote", dto.ReservationQuoteResponse, params=params
        )

    def check_reservation_availability(
        self,
        project: str,
        *,
        instance_type: str,
        region: str,
        start_time: datetime,
        end_time: datetime,
        quantity: int,
    ) -> list[dto.AvailabilitySlotModel]:
        """Returns the slot holding the window, empty when it cannot be had (``mode=check``)."""
        params = {
            "project": project,
            "instance_type": instance_type,
            "region": region,
            "mode": "check",
            "start_time": start_time,
            "end_time": end_time,
            "quantity": quantity,
        }
        return self.call(
            "GET",
            "/v2/reservation/availability",
            list[dto.AvailabilitySlotModel],
            params=params,
        )

    def create_reservation(self, request: dto.CreateReservationRequest) -> dto.ReservationModel:
        """Places a reservation (``POST /v2/reservation``; sent once, never retried)."""
        return self.call("POST", "/v2/reservation", dto.ReservationModel, body=request)

    def list_reservations(
        self,
        project: str,
        *,
        status: dto.ReservationStatus | None = None,
        limit: int | None = None,
        next_cursor: str | None = None,
    ) -> dto.GetReservationsResponse:
        """Returns one page of reservations, newest first (``GET /v2/reservation``)."""
        params = {
            "project": project,
            "status": status,
            "limit": limit,
            "next_cursor": next_cursor,
            "sort_by": "created_at",
            "sort_dir": "desc",
        }
        return self.call("GET", "/v2/reservation", dto.GetReservationsResponse, params=params)

    def get_extension_availability(self, reservation_fid: str) -> dto.ExtensionAvailabilityResponse:
        """Returns how far a reservation can be extended (``GET .../extension-availability``)."""
        path = f"/v2/reservation/{fid_segment(reservation_fid)}/extension-availability"
        return self.call("GET", path, dto.ExtensionAvailabilityResponse)

    def extend_reservation(
        self, reservation_fid: str, request: dto.ExtendReservationRequest
    ) -> dto.ReservationModel:
        """Moves a reservation's end later (``POST .../extend``).

        Retried: it sets the end time, so a repeat after a lost answer buys nothing more.
        """
        path = f"/v2/reservation/{fid_segment(reservation_fid)}/extend"
        return self.call("POST", path, dto.ReservationModel, body=request, idempotent=True)

    def terminate_reservation_instances(
        self, reservation_fid: str, request: dto.TerminateInstanceRequest
    ) -> list[str]:
        """Gives instances back (``POST .../terminate-instances``; retried, it is idempotent).

        Returns:
            The instances terminated: those the answer lists (a 207 lists only some),
            else every one asked for.
        """
        path = f"/v2/reservation/{fid_segment(reservation_fid)}/terminate-instances"
        answer = self.call("POST", path, Any, body=request, idempotent=True)
        if isinstance(answer, dict) and isinstance(answer.get("terminated_instances"), list):
            return [str(fid) for fid in answer["terminated_instances"]]
        return list(request.instances)

    def get_reservation_history(self, reservation_fid: str) -> dto.ReservationHistoryResponse:
        """Returns a reservation's events (``GET /v2/reservation/{fid}/history``)."""
        path = f"/v2/reservation/{fid_segment(reservation_fid)}/history"
        return self.call("GET", path, dto.ReservationHistoryResponse)

    def get_reservation_usage(self, reservation_fid: str) -> dto.ReservationUsageResponse:
        """Returns a reservation's cost and instance hours so far (``GET .../usage``)."""
        path = f"/v2/reservation/{fid_segment(reservation_fid)}/usage"
        return self.call("GET", path, dto.ReservationUsageResponse)

    # --- volumes -------------------------------------------------------------------

    def list_volumes(
        self, project: str, *, region: str | None = None, include_deleted: bool = False
    ) -> list[dto.VolumeModel]:
        """Returns a project's volumes (``GET /v2/volumes``)."""
        params = {"project": project, "region": region, "include_deleted": include_deleted}
        return self.call("GET", "/v2/volumes", list[dto.VolumeModel], params=params)

    def create_volume(self, request: dto.CreateVolumeRequest) -> dto.VolumeModel:
        """Creates a volume (``POST /v2/volumes``; sent once, never retried)."""
        return self.call("POST", "/v2/volumes", dto.VolumeModel, body=request)

    def update_volume(self, volume_fid: str, request: dto.UpdateVolumeRequest) -> dto.VolumeModel:
        """Renames a volume (``PATCH /v2/volumes/{volume_fid}``)."""
        path = f"/v2/volumes/{fid_segment(volume_fid)}"
        return self.call("PATCH", path, dto.VolumeModel, body=request)

    def delete_volume(self, volume_fid: str) -> None:
        """Deletes a volume (``DELETE /v2/volumes/{volume_fid}``)."""
        self.call("DELETE", f"/v2/volumes/{fid_segment(volume_fid)}", None)

    # --- SSH keys ------------------------------------------------------------------

    def list_ssh_keys(self, project: str) -> list[dto.NewSshKeyModel]:
        """Returns a project's SSH keys (``GET /v2/ssh-keys``)."""
        params = {"project": project}
        return self.call("GET", "/v2/ssh-keys", list[dto.NewSshKeyModel], params=params)

    def create_ssh_key(self, request: dto.CreateSshKeyRequest) -> dto.CreatedSshKeyModel:
        """Registers (or, without ``public_key``, generates) an SSH key (``POST``; not retried)."""
        return self.call("POST", "/v2/ssh-keys", dto.CreatedSshKeyModel, body=request)

    def update_ssh_key(
        self, ssh_key_fid: str, request: dto.UpdateSshKeyRequest
    ) -> dto.NewSshKeyModel:
        """Sets whether a key is required (``PATCH /v2/ssh-keys/{ssh_key_fid}``)."""
        path = f"/v2/ssh-keys/{fid_segment(ssh_key_fid)}"
        return self.call("PATCH", path, dto.NewSshKeyModel, body=request)

    def delete_ssh_key(self, ssh_key_fid: str) -> None:
        """Deletes an SSH key (``DELETE /v2/ssh-keys/{ssh_key_fid}``)."""
        self.call("DELETE", f"/v2/ssh-keys/{fid_segment(ssh_key_fid)}", None)

    # --- API keys ------------------------------------------------------------------

    def list_api_keys(self) -> list[dto.ApiKeyModel]:
        """Returns the caller's API keys, revoked and expired ones included (``GET``)."""
        return self.call("GET", "/v2/api-keys", list[dto.ApiKeyModel])

    def create_api_key(self, request: dto.CreateApiKeyRequest) -> dto.CreateApiKeyResponse:
        """Creates an API key (``POST /v2/api-keys``; not retried); the answer holds its secret."""
        return self.call("POST", "/v2/api-keys", dto.CreateApiKeyResponse, body=request)

    def revoke_api_key(self, key_fid: str) -> None:
        """Revokes an API key at once (``DELETE /v2/api-keys/{key_fid}``)."""
        self.call("DELETE", f"/v2/api-keys/{fid_segment(key_fid)}", None)


def _bid_filters(
    project: str | None,
    status: str | None,
    name: str | None,
    instance_type: str | None,
    region: str | None,
    sort_by: str | None,
    sort_dir: str | None,
) -> dict[str, Any]:
    return {
        "project": project,
        "status": status,
        "name": name,
        "instance_type": instance_type,
        "region": region,
        "sort_by": sort_by,
        "sort_dir": sort_dir,
    }


def _instance_filters(
    project: str,
    bid_fid_in: Sequence[str] | None,
    status_in: Sequence[str] | None,
    instance_type: str | None,
    region: str | None,
    sort_by: str | None = None,
    sort_dir: str | None = None,
) -> dict[str, Any]:
    return {
        "project": project,
        "bid_fid_in": _listed(bid_fid_in),
        "status_in": _listed(status_in),
        "instance_type": instance_type,
        "region": region,
        "sort_by": sort_by,
        "sort_dir": sort_dir,
    }


def _listed(values: Sequence[str] | None) -> list[str] | None:
    return list(values) if values is not None else None
