"""Routes of ``/v2/api-keys``: list, create (with an expiry) and revoke the caller's keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from flow_notebook.sandbox.apikeys import ApiKey
from flow_notebook.sandbox.routes.deps import sandbox_of, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import User

router = APIRouter(prefix="/v2")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]


class CreateApiKeyRequest(BaseModel):
    """The spec's ``CreateApiKeyRequest``."""

    name: str
    expires_at: datetime


@router.get("/api-keys")
def list_api_keys(sandbox: SandboxDep, user: UserDep) -> list[dict[str, Any]]:
    """Lists the caller's keys (``ApiKeyModel``), without their secrets."""
    return [key_body(key) for key in sandbox.api_keys.list(user.fid)]


@router.post("/api-keys", status_code=201)
def create_api_key(sandbox: SandboxDep, user: UserDep, body: CreateApiKeyRequest) -> dict[str, Any]:
    """Creates a key; the answer (``CreateApiKeyResponse``) is the only one with its secret."""
    key = sandbox.api_keys.create(user.fid, body.name, body.expires_at)
    return {**key_body(key), "secret": key.secret}


@router.delete("/api-keys/{key_fid}", status_code=204)
def revoke_api_key(sandbox: SandboxDep, user: UserDep, key_fid: str) -> Response:
    """Revokes a key of the caller; it stops authenticating at once."""
    sandbox.api_keys.revoke(user.fid, key_fid)
    return Response(status_code=204)


def key_body(key: ApiKey) -> dict[str, Any]:
    """Returns the ``ApiKeyModel`` body of ``key``."""
    return {
        "fid": key.fid,
        "name": key.name,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat(),
        "deactivated_at": key.deactivated_at.isoformat() if key.deactivated_at else None,
        "snippet": key.snippet,
    }
