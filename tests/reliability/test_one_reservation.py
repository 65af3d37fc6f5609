"""One reservation per request, also when the API acts on the POST after the client gave up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.core.models import utcnow
from flow_notebook.core.reservations import ReservationRequest
from flow_notebook.providers.mithril.domain.reservations import ReservationService
from flow_notebook.sandbox.testing import SandboxHandle, start_sandbox, stop_sandbox

pytestmark = pytest.mark.sandbox

POST = ("POST", "/v2/reservation")
CLIENT_READ_TIMEOUT = 1.0
SERVER_DELAY_MS = 3000
H100_8X, REGION = "it_5ECSoHQjLBzrp5YM", "us-central2-a"


@pytest.fixture(scope="module")
def http_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """One sandbox without real instances for this module's tests (faults reset by each)."""
    handle = start_sandbox(tmp_path_factory.mktemp("reservation_sandbox"), "--no-instances")
    yield handle
    stop_sandbox(handle)


def _posts(stats) -> int:
    rows = stats["requests"] + stats["dropped"]
    return sum(row["count"] for row in rows if (row["method"], row["route"]) == POST)


def _service(handle, api, reconcile_timeout: float) -> ReservationService:
    return ReservationService(
        api,
        handle.project,
        resolve_type=lambda spec: H100_8X,
        display_name=str,
        default_region=lambda: REGION,
        ssh_key_ids=list,
        reconcile_timeout=reconcile_timeout,
        reconcile_delay=0.2,
    )


def _request(name: str) -> ReservationRequest:
    start = utcnow()
    return ReservationRequest(
        instance_type="8xh100",
        region=REGION,
        start=start,
        end=start + timedelta(hours=1),
        name=name,
    )


def _named(service: ReservationService, prefix: str) -> list[str]:
    return [r.reservation_id for r in service.list_reservations() if r.name.startswith(prefix)]


def test_a_reservation_processed_after_the_read_timeout_is_found_not_placed_again(
    http_sandbox, providers
):
    api = providers.client(http_sandbox, timeout=(5.0, CLIENT_READ_TIMEOUT))
    service = _service(http_sandbox, api, reconcile_timeout=30.0)
    http_sandbox.control("DELETE", "/stats")
    http_sandbox.faults("POST /v2/reservation", process_delay_ms=SERVER_DELAY_MS)

    placed = service.create(_request("slow-reserve"))

    time.sleep(SERVER_DELAY_MS / 1000 + 1)  # a second POST, had there been one, lands now
    http_sandbox.reset_faults()
    assert _named(service, "slow-reserve-") == [placed.reservation_id]
    assert _posts(http_sandbox.stats()) == 1
    service.terminate_instances(placed.reservation_id)


def test_a_reservation_that_does_not_appear_in_time_is_one_line_and_not_sent_again(
    http_sandbox, providers
):
    api = providers.client(http_sandbox, timeout=(5.0, CLIENT_READ_TIMEOUT))
    service = _service(http_sandbox, api, reconcile_timeout=1.0)
    http_sandbox.control("DELETE", "/stats")
    http_sandbox.faults("POST /v2/reservation", process_delay_ms=SERVER_DELAY_MS)

    with pytest.raises(ProviderUnavailableError) as caught:
        service.create(_request("late-reserve"))

    message = str(caught.value)
    assert "reservation late-reserve-" in message and "may or may not have been placed" in message
    assert "not sent again" in message and "\n" not in message
    time.sleep(SERVER_DELAY_MS / 1000 + 1)
    http_sandbox.reset_faults()
    assert len(_named(service, "late-reserve-")) == 1, "the first POST landed late; no second"
    assert _posts(http_sandbox.stats()) == 1
