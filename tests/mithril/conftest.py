"""A small in-memory Mithril API behind ``MockTransport``, for unit tests of one service.

``FakeMithril`` answers the routes the services use with spec-shaped JSON, counts
requests, and can lose the answer of the next bid POST (after or before it created
the bid), which is what the dedupe tests need. Integration tests use the real
sandbox instead.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

import pytest

from flow_notebook.providers.mithril.api import (
    ApiClient,
    CircuitBreaker,
    MockTransport,
    RetryPolicy,
    TransportError,
    TransportRequest,
    TransportResponse,
)

PROJECT = "proj_test"
A100 = "it_RrgkIZz6c9BZu5gi"
A100X8 = "it_Sg1nDx1I8NFep60J"
NOW = "2024-01-01T00:00:00+00:00"


def _instance_type(fid: str, name: str, gpus: int) -> dict[str, Any]:
    return {
        "fid": fid, "name": name, "num_cpus": 8 * gpus, "cpu_type": "Intel", "ram_gb": 100,
        "num_gpus": gpus, "gpu_type": "A100", "gpu_memory_gb": 80, "gpu_socket": "SXM4",
        "local_storage_gb": 100, "network_type": None, "ib_count": 0, "bridge_count": 0,
    }  # fmt: skip


GENERATED_PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
)


class FakeMithril:
    """In-memory API state plus the handler ``MockTransport`` calls."""

    def __init__(self) -> None:
        self.bids: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.requests: list[TransportRequest] = []
        # "after_create", "before_create" or "never_sent" (refused before it left)
        self.lose_next_post: str | None = None
        self.fail_lookups = False
        self.fail_bids_with: int | None = None
        self.keys: list[dict[str, Any]] = []
        self.api_keys: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.types = [
            _instance_type(A100, "a100-80gb.sxm.1x", 1),
            _instance_type(A100X8, "a100-80gb.sxm.8x", 8),
        ]
        self.auctions = [
            {"fid": "auc_1", "instance_type": A100, "region": "r1", "capacity": 4,
             "last_instance_price": "$2.00", "adjustable_memory": False},
            {"fid": "auc_2", "instance_type": A100, "region": "r2", "capacity": 8,
             "last_instance_price": "$3.00", "adjustable_memory": False},
        ]  # fmt: skip

    # --- building state ---------------------------------------------------------------

    def client(self) -> ApiClient:
        """Returns an ApiClient whose requests this fake answers."""
        return ApiClient(
            "fkey_secret",
            base_url="http://fake.invalid",
            transport=MockTransport(self.handle),
            retry=RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0),
            breaker=CircuitBreaker(failure_threshold=1000),
            sleep=lambda seconds: None,
        )

    def add_bid(
        self,
        *,
        status: str = "Allocated",
        instances: int = 1,
        name: str | None = None,
        region: str = "r1",
        instance_status: str = "STATUS_RUNNING",
    ) -> dict[str, Any]:
        """Adds a bid with running instances; returns its JSON."""
        fid = f"bid_{next(self._ids)}"
        bid = {
            "fid": fid, "name": name or fid, "project": PROJECT, "created_by": "user_1",
            "created_at": NOW, "deactivated_at": None, "limit_price": "$2.50",
            "instance_quantity": instances, "instance_type": A100, "region": region,
            "instances": [], "status": status,
            "launch_specification": {"volumes": [], "ssh_keys": []},
        }  # fmt: skip
        self.bids[fid] = bid
        if status != "Open":
            for rank in range(instances):
                self.add_instance(bid, rank, instance_status)
        return bid

    def add_instance(self, bid: dict[str, Any], rank: int, status: str) -> dict[str, Any]:
        """Adds an instance to ``bid``."""
        fid = f"inst_{next(self._ids)}"
        running = status == "STATUS_RUNNING"
        self.instances[fid] = {
            "fid": fid, "name": f"{bid['name']}-{rank}", "project": PROJECT, "created_at": NOW,
            "created_by": "user_1", "instance_type": bid["instance_type"],
            "region": bid["region"], "bid": bid["fid"], "status": status,
            "ssh_destination": f"10.0.0.{rank + 1}:22{rank}" if running else None,
            "private_ip": f"10.1.0.{rank + 1}",
        }  # fmt: skip
        bid["instances"].append(fid)
        return self.instances[fid]

    def add_volume(self, name: str, *, region: str = "r1", interface: str = "Block") -> dict:
        """Adds a volume; returns its JSON."""
        fid = f"vol_{next(self._ids)}"
        self.volumes[fid] = {
            "fid": fid, "name": name, "region": region, "created_at": NOW, "deleted_at": None,
            "capacity_gb": 10, "project": PROJECT, "interface": interface, "bids": [],
            "reservations": [], "attachments": {},
        }  # fmt: skip
        return self.volumes[fid]

    def count(self, method: str, path: str) -> int:
        """Returns how many requests had this method and exact path."""
        return sum(1 for r in self.requests if r.method == method and _path(r) == path)

    def reset_counts(self) -> None:
        """Forgets the recorded requests."""
        self.requests.clear()

    # --- the handler ------------------------------------------------------------------

    def handle(self, request: TransportRequest) -> TransportResponse:
        """Answers one request."""
        self.requests.append(request)
        path, params = _path(request), dict(request.params)
        parts = path.strip("/").split("/")
        if request.method == "GET" and self.fail_lookups:
            raise TransportError("connection reset")
        route = (request.method, "/".join(parts[:3]))
        if route == ("POST", "v2/spot/bids") and self.fail_bids_with is None:
            return self._create_bid(request.json)
        if route == ("GET", "v2/spot/bids") and len(parts) == 3:
            return self._page([b for b in self.bids.values() if _bid_matches(b, params)], params)
        if parts[:3] == ["v2", "spot", "bids"] and len(parts) == 4:
            return self._one_bid(request.method, parts[3], request.json)
        if route == ("GET", "v2/instances"):
            wanted = set(params.get("bid_fid_in", "").split(",")) - {""}
            found = [i for i in self.instances.values() if not wanted or i["bid"] in wanted]
            return self._page(found, params)
        if route == ("GET", "v2/volumes"):
            return _json(200, [v for v in self.volumes.values() if not v["deleted_at"]])
        if route == ("POST", "v2/volumes"):
            body = request.json
            made = self.add_volume(body["name"], region=body["region"],
                                   interface=body["disk_interface"])  # fmt: skip
            return _json(201, made)
        if request.method == "DELETE" and parts[:2] == ["v2", "volumes"] and len(parts) == 3:
            if self.volumes.pop(parts[2], None) is None:
                return _json(404, {"detail": "Volume not found"})
            return TransportResponse(204)
        if route == ("POST", "v2/ssh-keys"):
            return _json(201, self._add_key(request.json))
        if parts[:2] == ["v2", "api-keys"]:
            return self._api_key(request.method, parts[2:], request.json)
        if self.fail_bids_with is not None and route == ("POST", "v2/spot/bids"):
            return _json(self.fail_bids_with, {"detail": "Limit price is below the minimum"})
        return self._static(route, path)

    def _add_key(self, body: dict[str, Any]) -> dict[str, Any]:
        key = {
            "fid": f"sshkey_{next(self._ids)}", "name": body["name"], "project": PROJECT,
            "public_key": body.get("public_key") or "ssh-ed25519 AAAA", "created_at": NOW,
            "required": False,
        }  # fmt: skip
        self.keys.append(key)
        if not body.get("public_key"):  # the platform generated the pair
            return {**key, "private_key": GENERATED_PRIVATE_KEY}
        return key

    def _api_key(self, method: str, rest: list[str], body: Any) -> TransportResponse:
        if method == "POST":
            key = {
                "fid": f"apikey_{next(self._ids)}", "name": body["name"], "created_at": NOW,
                "expires_at": body["expires_at"], "deactivated_at": None, "snippet": "fkey_t...",
            }  # fmt: skip
            self.api_keys.append(key)
            return _json(201, {**key, "secret": f"fkey_task{key['fid']}"})
        if method == "GET":
            return _json(200, self.api_keys)
        for key in self.api_keys:
            if rest and key["fid"] == rest[0]:
                key["deactivated_at"] = key["deactivated_at"] or NOW
                return TransportResponse(204)
        return _json(404, {"detail": "API key not found"})

    def _static(self, route: tuple[str, str], path: str) -> TransportResponse:
        answers = {
            ("GET", "v2/projects"): [{"fid": PROJECT, "name": "test", "created_at": NOW}],
            ("GET", "v2/instance-types"): self.types,
            ("GET", "v2/spot/availability"): self.auctions,
            ("GET", "v2/ssh-keys"): self.keys,
            ("GET", "v2/me"): {"id": "u1", "fid": "user_1", "email": "me@example.com",
                               "user_name": "me", "organization_id": "org_1"},
        }  # fmt: skip
        if route in answers:
            return _json(200, answers[route])
        return _json(404, {"detail": f"no route {path}"})

    def _create_bid(self, body: dict[str, Any]) -> TransportResponse:
        mode, self.lose_next_post = self.lose_next_post, None
        if mode == "before_create":
            raise TransportError("connection reset before the answer")
        if mode == "never_sent":
            raise TransportError("connection refused", request_sent=False)
        bid = self.add_bid(status="Open", name=body["name"], region=body["region"])
        bid.update(
            instance_quantity=body["instance_quantity"],
            limit_price=body["limit_price"],
            launch_specification=body["launch_specification"],
        )
        if mode == "after_create":
            raise TransportError("timed out waiting for the answer")
        return _json(201, bid)

    def _one_bid(self, method: str, fid: str, body: Any) -> TransportResponse:
        bid = self.bids.get(fid)
        if bid is None:
            return _json(404, {"detail": f"Bid {fid} not found"})
        if method == "DELETE":
            bid["status"] = "Terminated"
            bid["deactivated_at"] = datetime.now(timezone.utc).isoformat()
            return TransportResponse(204)
        if method == "PATCH":
            if body.get("paused") is not None:
                bid["status"] = "Paused" if body["paused"] else "Open"
            if body.get("volumes") is not None:
                bid["launch_specification"]["volumes"] = body["volumes"]
        return _json(200, bid)

    def _page(self, items: list[dict[str, Any]], params: dict[str, str]) -> TransportResponse:
        items = sorted(items, key=lambda item: int(item["fid"].split("_")[1]), reverse=True)
        start = int(params.get("next_cursor") or 0)
        limit = int(params.get("limit") or 100)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return _json(200, {"data": page, "next_cursor": str(start + limit) if more else None})


def _bid_matches(bid: dict[str, Any], params: dict[str, str]) -> bool:
    return all(bid.get(key) == params[key] for key in ("name", "status") if key in params)


def _path(request: TransportRequest) -> str:
    return urlparse(request.url).path


def _json(status: int, payload: Any) -> TransportResponse:
    body = json.dumps(payload).encode()
    return TransportResponse(status, {"content-type": "application/json"}, body)


@pytest.fixture
def fake() -> FakeMithril:
    """A fresh fake API."""
    return FakeMithril()
