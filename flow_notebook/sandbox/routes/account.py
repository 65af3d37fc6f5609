"""Routes of the account: profile, projects, SSH keys, volumes and quotas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from flow_notebook.sandbox import views
from flow_notebook.sandbox.routes.deps import JsonBody, sandbox_of, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import User

router = APIRouter(prefix="/v2")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]


@router.get("/me")
def me(user: UserDep) -> dict[str, Any]:
    """Returns the caller's profile."""
    return views.me_body(user)


@router.get("/me/teammates")
def teammates(sandbox: SandboxDep, user: UserDep) -> list[dict[str, Any]]:
    """Lists the users the caller may see: all for an admin, those sharing a project else."""
    return [views.teammate_body(u, p) for u, p in sandbox.teammates(user)]


@router.get("/projects")
def projects(sandbox: SandboxDep, user: UserDep) -> list[dict[str, Any]]:
    """Lists the caller's projects."""
    return [views.project_body(sandbox.store.projects[fid]) for fid in user.projects]


@router.get("/quotas")
def quotas(sandbox: SandboxDep, user: UserDep, project: str) -> list[dict[str, object]]:
    """Lists a project's quotas and how much of each is used."""
    return sandbox.resources.quotas(sandbox.bids.project(user, project))


@router.get("/ssh-keys")
def list_keys(sandbox: SandboxDep, user: UserDep, project: str) -> list[dict[str, Any]]:
    """Lists a project's SSH keys."""
    keys = sandbox.resources.keys(sandbox.bids.project(user, project))
    return [views.ssh_key_body(k) for k in keys]


@router.post("/ssh-keys", status_code=201)
def create_key(sandbox: SandboxDep, user: UserDep, body: JsonBody) -> dict[str, Any]:
    """Registers a key; without ``public_key`` generates a pair and returns ``private_key``."""
    project = sandbox.bids.project(user, body["project"])
    key, private = sandbox.resources.create_key(project, body)
    return {**views.ssh_key_body(key), "private_key": private}


@router.patch("/ssh-keys/{ssh_key_fid}")
def update_key(
    sandbox: SandboxDep, user: UserDep, ssh_key_fid: str, body: JsonBody
) -> dict[str, Any]:
    """Sets whether a key is required on every instance of its project."""
    return views.ssh_key_body(sandbox.resources.update_key(user.projects, ssh_key_fid, body))


@router.delete("/ssh-keys/{ssh_key_fid}", status_code=204)
def delete_key(sandbox: SandboxDep, user: UserDep, ssh_key_fid: str) -> Response:
    """Deletes a key that no active bid uses."""
    sandbox.resources.delete_key(user.projects, ssh_key_fid)
    return Response(status_code=204)


@router.get("/volumes")
def list_volumes(
    sandbox: SandboxDep,
    user: UserDep,
    project: str,
    region: str | None = None,
    include_deleted: bool = False,
) -> list[dict[str, Any]]:
    """Lists a project's volumes."""
    found = sandbox.resources.volumes(sandbox.bids.project(user, project), region, include_deleted)
    with sandbox.store.lock:
        return [views.volume_body(v) for v in found]


@router.post("/volumes", status_code=201)
def create_volume(sandbox: SandboxDep, user: UserDep, body: JsonBody) -> dict[str, Any]:
    """Creates a volume."""
    project = sandbox.bids.project(user, body["project"])
    return views.volume_body(sandbox.resources.create_volume(project, body))


@router.patch("/volumes/{volume_fid}")
def update_volume(
    sandbox: SandboxDep, user: UserDep, volume_fid: str, body: JsonBody
) -> dict[str, Any]:
    """Renames a volume."""
    with sandbox.store.lock:
        volume = sandbox.resources.volume(user.projects, volume_fid)
        volume.name = body["name"]
        return views.volume_body(volume)


@router.delete("/volumes/{volume_fid}", status_code=204)
def delete_volume(sandbox: SandboxDep, user: UserDep, volume_fid: str) -> Response:
    """Deletes a volume no active bid uses, with its data."""
    sandbox.resources.delete_volume(user.projects, volume_fid)
    return Response(status_code=204)
