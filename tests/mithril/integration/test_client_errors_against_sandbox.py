"""ApiClient error mapping against the sandbox's real answers: 400 quota, 401, 404, 422."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import (
    AuthenticationError,
    NotFoundError,
    QuotaExceededError,
    ValidationError,
)
from flow_notebook.providers.mithril.api import dto
from flow_notebook.sandbox.testing import A100, REGION

pytestmark = pytest.mark.sandbox

WRONG_KEY = "fkey_WRONG_INTEGRATION_SECRET_7d2a"


def bid_request(project: str, *, quantity: int = 1, price: str = "$10.00") -> dto.CreateBidRequest:
    return dto.CreateBidRequest(
        project=project,
        region=REGION,
        instance_type=A100,
        limit_price=price,
        instance_quantity=quantity,
        name="errors",
        launch_specification=dto.LaunchSpecificationModel(volumes=[], ssh_keys=[]),
    )


def small_project(client) -> str:
    return next(p.fid for p in client.list_projects() if p.name == "sandbox-small")


def test_wrong_key_is_an_authentication_error_that_does_not_show_the_key(fresh_sandbox, client_for):
    client = client_for(fresh_sandbox, api_key=WRONG_KEY)
    fresh_sandbox.control("DELETE", "/stats")

    with pytest.raises(AuthenticationError, match="HTTP 401") as raised:
        client.get_me()

    assert WRONG_KEY not in str(raised.value)
    assert WRONG_KEY not in repr(client)
    rows = fresh_sandbox.stats()["requests"]
    assert [(r["route"], r["status"], r["count"]) for r in rows if r["method"] == "GET"] == [
        ("/v2/me", 401, 1)
    ]


def test_unknown_volume_and_key_are_not_found(client):
    with pytest.raises(NotFoundError, match="HTTP 404"):
        client.update_volume("vol_doesnotexist", dto.UpdateVolumeRequest(name="x"))
    with pytest.raises(NotFoundError, match="HTTP 404"):
        client.delete_ssh_key("sshkey_doesnotexist")


def test_bad_volume_name_sent_raw_is_a_validation_error_naming_the_field(client, mithril_sandbox):
    # model_construct skips the client's own checks, so the server is the one refusing.
    request = dto.CreateVolumeRequest.model_construct(
        name="Not A Valid Name!",
        project=mithril_sandbox.project,
        disk_interface="File",
        region=REGION,
        size_gb=1,
    )

    with pytest.raises(ValidationError) as raised:
        client.create_volume(request)

    assert raised.value.field == "name"
    assert "body.name" in str(raised.value)
    assert "pattern" in str(raised.value)
    names = {v.name for v in client.list_volumes(mithril_sandbox.project, include_deleted=True)}
    assert "Not A Valid Name!" not in names


def test_unknown_region_and_malformed_price_are_validation_errors_of_that_field(
    client, mithril_sandbox
):
    volume = dto.CreateVolumeRequest(
        name="nowhere",
        project=mithril_sandbox.project,
        disk_interface="File",
        region="mars-1a",
        size_gb=1,
    )
    with pytest.raises(ValidationError, match="Unknown region") as raised:
        client.create_volume(volume)
    assert raised.value.field == "region"

    with pytest.raises(ValidationError) as raised:
        client.create_bid(bid_request(mithril_sandbox.project, price="ten dollars"))
    assert raised.value.field == "limit_price"


def test_bid_over_the_small_projects_instance_quota_is_quota_exceeded(fresh_client):
    project = small_project(fresh_client)

    with pytest.raises(QuotaExceededError, match="Quota exceeded") as raised:
        fresh_client.create_bid(bid_request(project, quantity=3))

    assert raised.value.suggestion
    assert fresh_client.list_bids(project).data == []
    [a100] = [q for q in fresh_client.get_quotas(project) if q.instance_type == A100]
    assert (a100.total_quantity, a100.used_quantity) == (2, 0)


def test_volume_over_the_small_projects_storage_quota_is_quota_exceeded(fresh_client):
    project = small_project(fresh_client)
    request = dto.CreateVolumeRequest(
        name="too-big", project=project, disk_interface="Block", region=REGION, size_gb=101
    )

    with pytest.raises(QuotaExceededError, match="100 GB"):
        fresh_client.create_volume(request)

    assert fresh_client.list_volumes(project) == []


def test_raised_quota_lets_the_same_bid_through(fresh_client, fresh_sandbox):
    project = small_project(fresh_client)
    fresh_sandbox.control(
        "POST", "/quotas", json={"project": project, "instance_type": A100, "total": 3}
    )

    bid = fresh_client.create_bid(bid_request(project, quantity=3))

    assert len(bid.instances) == 3
    fresh_client.cancel_bid(bid.fid)
