"""The ``/_sandbox/`` controls (not part of the Mithril API; loopback clients only).

- ``GET /_sandbox/info``: account, whether instances are reachable and why not.
- ``GET|POST|DELETE /_sandbox/faults``: list, add (a ``FaultRule`` body), reset.
- ``POST /_sandbox/market``: set ``price`` (dollar string) and/or ``capacity`` of
  one (``instance_type``, ``region``).
- ``POST /_sandbox/bids/{bid_fid}/preempt``: preempt an allocated bid now.
- ``POST /_sandbox/seed``: add ``count`` historical bids without processes.
- ``POST /_sandbox/quotas``: set a project's quota for an instance type or storage.
- ``POST /_sandbox/users``: add a user (a teammate) and return its API key.
- ``POST /_sandbox/registries``: add a private image registry (host, user, password)
  whose logins the instances' emulated ``docker`` checks.
- ``GET|DELETE /_sandbox/stats``: request counts per route and status; reset them.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from flow_notebook.sandbox.catalog import find_instance_type, parse_price
from flow_notebook.sandbox.errors import InvalidField, NotFound
from flow_notebook.sandbox.faults import FaultRule
from flow_notebook.sandbox.resources import STORAGE_QUOTA
from flow_notebook.sandbox.routes.deps import sandbox_of
from flow_notebook.sandbox.sandbox import Sandbox

router = APIRouter(prefix="/_sandbox")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
MAX_SEED = 100_000


class MarketChange(BaseModel):
    """Body of ``POST /_sandbox/market``."""

    instance_type: str
    region: str
    price: str | None = None
    capacity: int | None = Field(default=None, ge=0)


class SeedRequest(BaseModel):
    """Body of ``POST /_sandbox/seed``."""

    count: int = Field(ge=1, le=MAX_SEED)
    project: str | None = None
    status: Literal["Terminated", "Open", "Paused"] = "Terminated"


class QuotaChange(BaseModel):
    """Body of ``POST /_sandbox/quotas``; ``instance_type`` ``"storage"`` sets GB of storage."""

    project: str
    instance_type: str
    total: int = Field(ge=0)


class NewUser(BaseModel):
    """Body of ``POST /_sandbox/users``; no ``projects`` gives the user a project of its own."""

    email: str = Field(min_length=3, max_length=200)
    role: Literal["admin", "member"] = "member"
    projects: list[str] = Field(default_factory=list)


@router.get("/info")
def info(sandbox: SandboxDep) -> dict[str, Any]:
    """Returns the default account and whether instances are reachable over SSH."""
    return {
        "project": sandbox.account.project,
        "user": sandbox.account.user,
        "root": str(sandbox.root),
        "instances_reachable": sandbox.reason_unreachable is None,
        "reason_unreachable": sandbox.reason_unreachable,
    }


@router.get("/faults")
def list_faults(sandbox: SandboxDep) -> list[dict[str, Any]]:
    """Lists the fault rules, most recent first."""
    return sandbox.faults.rules()


@router.post("/faults")
def add_fault(sandbox: SandboxDep, rule: FaultRule) -> list[dict[str, Any]]:
    """Adds a fault rule; returns all rules."""
    sandbox.faults.add(rule)
    return sandbox.faults.rules()


@router.delete("/faults")
def reset_faults(sandbox: SandboxDep, seed: int | None = None) -> list[dict[str, Any]]:
    """Removes every fault rule (and reseeds when ``seed`` is given)."""
    sandbox.faults.reset(seed)
    return []


@router.post("/market")
def change_market(sandbox: SandboxDep, body: MarketChange) -> dict[str, Any]:
    """Sets the price and/or capacity of one auction; bids react at once."""
    itype = find_instance_type(body.instance_type)
    auction = sandbox.market.auctions.get((itype.fid if itype else "", body.region))
    if auction is None:
        raise NotFound(f"No auction for {body.instance_type} in {body.region}")
    if body.price is not None:
        cents = parse_price(body.price)
        if cents is None:
            raise InvalidField(("body", "price"), "Price must look like $25.60")
        sandbox.market.set_price(auction, cents)
    if body.capacity is not None:
        sandbox.market.set_capacity(auction, body.capacity)
    return {
        "auction": auction.fid,
        "price_cents": auction.price_cents,
        "capacity": auction.capacity,
    }


@router.post("/bids/{bid_fid}/preempt")
def preempt_bid(sandbox: SandboxDep, bid_fid: str) -> dict[str, Any]:
    """Preempts an allocated bid now (``Preempting``, then ``Terminated``)."""
    bid = sandbox.store.bids.get(bid_fid)
    if bid is None:
        raise NotFound(f"Bid {bid_fid} not found")
    sandbox.market.preempt(bid)
    return {"bid_fid": bid.fid, "status": bid.status}


@router.post("/seed")
def seed(sandbox: SandboxDep, body: SeedRequest) -> dict[str, Any]:
    """Adds historical bids (one instance each, no processes) for list benchmarks."""
    user = sandbox.store.users[sandbox.account.user]
    project = sandbox.bids.project(user, body.project or sandbox.account.project)
    return {"created": sandbox.bids.seed(project, user, body.count, body.status)}


@router.post("/quotas")
def set_quota(sandbox: SandboxDep, body: QuotaChange) -> dict[str, Any]:
    """Sets one quota of a project."""
    project = sandbox.store.projects.get(body.project)
    if project is None:
        raise NotFound(f"Project {body.project} not found")
    key = STORAGE_QUOTA if body.instance_type == STORAGE_QUOTA else None
    itype = find_instance_type(body.instance_type)
    key = key or (itype.fid if itype else None)
    if key is None:
        raise InvalidField(("body", "instance_type"), "Unknown instance type")
    project.quotas[key] = body.total
    return {"project": project.fid, "quota": key, "total": body.total}


@router.post("/users")
def add_user(sandbox: SandboxDep, body: NewUser) -> dict[str, Any]:
    """Adds a user of the organization; returns its fid, API key and first project."""
    account = sandbox.add_user(body.email, role=body.role, projects=body.projects)
    return {"user": account.user, "api_key": account.api_key, "project": account.project}


class NewRegistry(BaseModel):
    """Body of ``POST /_sandbox/registries``."""

    registry: str = Field(pattern=r"^[A-Za-z0-9.-]+(:[0-9]+)?$", max_length=255)
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=500)


@router.post("/registries")
def add_registry(sandbox: SandboxDep, body: NewRegistry) -> dict[str, Any]:
    """Makes ``registry`` private: instances booted from now on check pulls against it."""
    login = f"{body.username}:{body.password}".encode()
    sandbox.store.registries[body.registry] = hashlib.sha256(login).hexdigest()
    return {"registry": body.registry, "registries": sorted(sandbox.store.registries)}


@router.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Returns request counts per method, route and status, and the number of 422s."""
    snapshot: dict[str, Any] = request.app.state.stats.snapshot()
    return snapshot


@router.delete("/stats")
def reset_stats(request: Request) -> dict[str, Any]:
    """Forgets every count."""
    request.app.state.stats.reset()
    return {"total": 0}
