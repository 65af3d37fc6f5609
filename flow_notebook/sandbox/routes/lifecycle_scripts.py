"""Routes of ``/v2/lifecycle-scripts``: scripts stored per project (or organization).

A script's ``content_url`` serves its text without credentials (an unguessable
address, like a signed URL), so an instance's startup script can fetch and run
it: ``curl -fsS "$CONTENT_URL" | bash``. ``GET .../content`` returns the text as
a JSON string to an authenticated caller.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from flow_notebook.sandbox.errors import InvalidField, NotFound
from flow_notebook.sandbox.paging import BadCursor, page
from flow_notebook.sandbox.routes.deps import JsonBody, sandbox_of, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import LifecycleScript, User, new_fid, utcnow

router = APIRouter()
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]
CONTENT_PATH = "/_sandbox/lifecycle-scripts"


@router.post("/v2/lifecycle-scripts", status_code=201)
def create(sandbox: SandboxDep, user: UserDep, request: Request, body: JsonBody) -> dict[str, Any]:
    """Stores a script."""
    description = body.get("description") or ""
    scope = body.get("scope") or "PROJECT"
    with sandbox.store.lock:
        project = sandbox.bids.project(user, body["project"])
        now = utcnow()
        script = LifecycleScript(
            fid=new_fid("ls"),
            name=body["name"],
            description=description,
            content=body["content"],
            project=project.fid,
            scope=scope,
            created_at=now,
            created_by=user.fid,
            last_modified_at=now,
            last_modified_by=user.fid,
            token=secrets.token_urlsafe(24),
            seq=sandbox.store.next_seq(),
        )
        sandbox.store.lifecycle_scripts[script.fid] = script
        return _body(script, request)


@router.get("/v2/lifecycle-scripts")
def list_scripts(
    sandbox: SandboxDep,
    user: UserDep,
    request: Request,
    project: str,
    next_cursor: str | None = None,
    sort_by: Literal["created_at", "last_modified_at"] | None = None,
    sort_dir: Literal["asc", "desc"] | None = None,
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> dict[str, Any]:
    """Lists the scripts visible in a project: its own and the organization's."""
    with sandbox.store.lock:
        fid = sandbox.bids.project(user, project).fid
        found = [
            s
            for s in sandbox.store.lifecycle_scripts.values()
            if s.project == fid or (s.scope == "ORGANIZATION" and s.project in user.projects)
        ]
        by_change = sort_by == "last_modified_at"
        try:
            scripts, cursor = page(
                found,
                seq_of=lambda s: s.seq,
                sort_key=(lambda s: s.last_modified_at) if by_change else (lambda s: s.created_at),
                descending=sort_dir != "asc",
                limit=limit,
                cursor=next_cursor,
            )
        except BadCursor as exc:
            raise InvalidField(("query", "next_cursor"), "Unknown cursor") from exc
        return {"data": [_body(s, request) for s in scripts], "next_cursor": cursor}


@router.get("/v2/lifecycle-scripts/{ls_fid}/content")
def content(sandbox: SandboxDep, user: UserDep, ls_fid: str) -> str:
    """Returns a script's text (a JSON string)."""
    with sandbox.store.lock:
        return _script(sandbox, user, ls_fid).content


@router.patch("/v2/lifecycle-scripts/{ls_fid}")
def update(
    sandbox: SandboxDep, user: UserDep, request: Request, ls_fid: str, body: JsonBody
) -> dict[str, Any]:
    """Renames a script, or changes its description or scope."""
    name, description, scope = (body.get(k) for k in ("name", "description", "scope"))
    with sandbox.store.lock:
        script = _script(sandbox, user, ls_fid)
        script.name = name if name is not None else script.name
        script.description = description if description is not None else script.description
        script.scope = scope or script.scope
        script.last_modified_at, script.last_modified_by = utcnow(), user.fid
        return _body(script, request)


@router.delete("/v2/lifecycle-scripts/{ls_fid}", status_code=204)
def delete(sandbox: SandboxDep, user: UserDep, ls_fid: str) -> Response:
    """Deletes a script; its ``content_url`` stops answering."""
    with sandbox.store.lock:
        del sandbox.store.lifecycle_scripts[_script(sandbox, user, ls_fid).fid]
    return Response(status_code=204)


@router.get(CONTENT_PATH + "/{token}", include_in_schema=False)
def content_by_url(sandbox: SandboxDep, token: str) -> PlainTextResponse:
    """Serves a script's text to whoever holds its ``content_url`` (an instance, say)."""
    with sandbox.store.lock:
        for script in sandbox.store.lifecycle_scripts.values():
            if secrets.compare_digest(script.token, token):
                return PlainTextResponse(script.content)
    raise NotFound("Lifecycle script not found")


def _script(sandbox: Sandbox, user: User, fid: str) -> LifecycleScript:
    script = sandbox.store.lifecycle_scripts.get(fid)
    if script is None or script.project not in user.projects:
        raise NotFound(f"Lifecycle script {fid} not found")
    return script


def _body(script: LifecycleScript, request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "fid": script.fid,
        "name": script.name,
        "description": script.description,
        "content_url": f"{base}{CONTENT_PATH}/{script.token}",
        "project": script.project,
        "created_at": script.created_at,
        "created_by": script.created_by,
        "last_modified_at": script.last_modified_at,
        "last_modified_by": script.last_modified_by,
        "scope": script.scope,
    }
