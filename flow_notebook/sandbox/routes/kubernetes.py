"""Routes of ``/v2/kubernetes/clusters``: records only, no Kubernetes runs here.

A created cluster is checked as Mithril would (project, region, instance type,
SSH keys, version) and stays ``Pending`` with no ``kube_host``, no
``join_command`` and no instances until it is deleted (``Terminated``): the
sandbox cannot run a control plane, and says so in ``docs/sandbox.md``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from flow_notebook.sandbox import views
from flow_notebook.sandbox.catalog import REGIONS, find_instance_type
from flow_notebook.sandbox.errors import InvalidField
from flow_notebook.sandbox.images import find_image_version
from flow_notebook.sandbox.paging import owned
from flow_notebook.sandbox.routes.deps import JsonBody, sandbox_of, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import KubernetesCluster, User, new_fid, utcnow

router = APIRouter(prefix="/v2/kubernetes/clusters")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]


@router.get("")
def list_clusters(sandbox: SandboxDep, user: UserDep, project: str) -> list[dict[str, Any]]:
    """Lists a project's clusters, deleted ones included."""
    with sandbox.store.lock:
        fid = sandbox.bids.project(user, project).fid
        clusters = sandbox.store.kubernetes_clusters.values()
        return [_body(c) for c in clusters if c.project == fid]


@router.post("", status_code=201)
def create(sandbox: SandboxDep, user: UserDep, body: JsonBody) -> dict[str, Any]:
    """Records a cluster (it stays ``Pending``: nothing runs it here)."""
    keys = body["ssh_keys"]
    version = body.get("k8s_version") or "1.34"
    itype = find_instance_type(body["instance_type"])
    if itype is None:
        raise InvalidField(("body", "instance_type"), "Unknown instance type")
    if body["region"] not in REGIONS:
        raise InvalidField(("body", "region"), f"Unknown region {body['region']}")
    image = body.get("image_version")
    if image is not None and find_image_version(str(image)) is None:
        raise InvalidField(("body", "image_version"), f"Unknown image {image}")
    with sandbox.store.lock:
        project = sandbox.bids.project(user, body["project"])
        sandbox.bids.check_references(project, {"ssh_keys": keys})
        cluster = KubernetesCluster(
            fid=new_fid("clust"),
            name=body["name"],
            project=project.fid,
            region=body["region"],
            instance_type=itype.fid,
            created_at=utcnow(),
            ssh_keys=list(keys),
            k8s_version=version,
            user_fid=user.fid,
            image_version=image,
        )
        sandbox.store.kubernetes_clusters[cluster.fid] = cluster
        return _body(cluster)


@router.get("/{cluster_fid}")
def get(sandbox: SandboxDep, user: UserDep, cluster_fid: str) -> dict[str, Any]:
    """Returns one cluster."""
    with sandbox.store.lock:
        return _body(_cluster(sandbox, user, cluster_fid))


@router.delete("/{cluster_fid}", status_code=204)
def delete(sandbox: SandboxDep, user: UserDep, cluster_fid: str) -> Response:
    """Deletes a cluster: it is ``Terminated`` (idempotent)."""
    with sandbox.store.lock:
        cluster = _cluster(sandbox, user, cluster_fid)
        if cluster.deleted_at is None:
            cluster.status, cluster.deleted_at = "Terminated", utcnow()
    return Response(status_code=204)


def _cluster(sandbox: Sandbox, user: User, fid: str) -> KubernetesCluster:
    return owned(sandbox.store.kubernetes_clusters, fid, user.projects, "Kubernetes cluster")


def _body(cluster: KubernetesCluster) -> dict[str, Any]:
    known = "fid project name region created_at ssh_keys status deleted_at k8s_version user_fid"
    return views.fields(cluster, known) | {
        "kube_host": None,
        "instances": [],
        "join_command": None,
    }
