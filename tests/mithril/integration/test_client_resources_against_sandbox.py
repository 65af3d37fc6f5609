"""ApiClient over real HTTP against the sandbox: volumes and SSH keys, from create to delete."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flow_notebook.core.errors import NotFoundError, TaskStateError
from flow_notebook.providers.mithril.api import dto
from flow_notebook.sandbox.testing import REGION, bid_body

pytestmark = pytest.mark.sandbox


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def volume_request(project: str, name: str, size_gb: int = 10) -> dto.CreateVolumeRequest:
    return dto.CreateVolumeRequest(
        name=name, project=project, disk_interface="File", region=REGION, size_gb=size_gb
    )


def openssh_public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


# --- volumes ---------------------------------------------------------------------


def test_volume_is_created_listed_renamed_and_deleted(client, mithril_sandbox):
    project = mithril_sandbox.project
    volume = client.create_volume(volume_request(project, unique("conf-vol")))
    try:
        assert (volume.project, volume.region, volume.capacity_gb) == (project, REGION, 10)
        assert (volume.interface, volume.deleted_at, volume.bids) == ("File", None, [])
        listed = {v.fid: v for v in client.list_volumes(project)}
        assert listed[volume.fid].name == volume.name
        assert volume.fid not in {
            v.fid for v in client.list_volumes(project, region="eu-central1-a")
        }

        renamed = client.update_volume(volume.fid, dto.UpdateVolumeRequest(name="conf-renamed"))

        assert renamed.name == "conf-renamed"
        raw = mithril_sandbox.api("GET", "/v2/volumes", params={"project": project}).json()
        assert {v["fid"]: v["name"] for v in raw}[volume.fid] == "conf-renamed"
    finally:
        client.delete_volume(volume.fid)

    assert volume.fid not in {v.fid for v in client.list_volumes(project)}
    deleted = {v.fid: v for v in client.list_volumes(project, include_deleted=True)}
    assert deleted[volume.fid].deleted_at is not None
    with pytest.raises(NotFoundError):
        client.delete_volume(volume.fid)


def test_volume_used_by_an_active_bid_cannot_be_deleted(client, mithril_sandbox):
    project = mithril_sandbox.project
    volume = client.create_volume(volume_request(project, unique("conf-busy")))
    bid = mithril_sandbox.place_bid(name=unique("conf-busy"), volumes=[volume.fid])
    try:
        with pytest.raises(TaskStateError, match="in use"):
            client.delete_volume(volume.fid)
        assert {v.fid: v for v in client.list_volumes(project)}[volume.fid].bids == [bid["fid"]]
    finally:
        client.cancel_bid(bid["fid"])
    client.delete_volume(volume.fid)


# --- SSH keys --------------------------------------------------------------------


def test_ssh_key_with_a_public_key_is_registered_as_given(client, mithril_sandbox):
    project = mithril_sandbox.project
    public = openssh_public_key()
    request = dto.CreateSshKeyRequest(project=project, name=unique("conf-key"), public_key=public)

    key = client.create_ssh_key(request)
    try:
        assert (key.public_key, key.private_key, key.required) == (public, None, False)
        assert key.fid in {k.fid for k in client.list_ssh_keys(project)}
    finally:
        client.delete_ssh_key(key.fid)


def test_ssh_key_without_a_public_key_comes_back_with_its_private_key(client, mithril_sandbox):
    project = mithril_sandbox.project

    key = client.create_ssh_key(dto.CreateSshKeyRequest(project=project, name=unique("conf-gen")))
    try:
        assert key.private_key and key.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY")
        private = serialization.load_ssh_private_key(key.private_key.encode(), password=None)
        derived = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        assert key.public_key.split()[:2] == derived.decode().split()[:2]
        assert key.private_key not in repr(key)
        listed = {k.fid: k for k in client.list_ssh_keys(project)}
        assert listed[key.fid].public_key == key.public_key
    finally:
        client.delete_ssh_key(key.fid)


def test_ssh_key_is_made_required_and_then_deleted(client, mithril_sandbox):
    project = mithril_sandbox.project
    key = client.create_ssh_key(
        dto.CreateSshKeyRequest(
            project=project, name=unique("conf-req"), public_key=openssh_public_key()
        )
    )
    try:
        updated = client.update_ssh_key(key.fid, dto.UpdateSshKeyRequest(required=True))
        assert (updated.fid, updated.required) == (key.fid, True)
        assert {k.fid: k for k in client.list_ssh_keys(project)}[key.fid].required is True
        # Keep the shared sandbox's instances free of a key no test holds.
        client.update_ssh_key(key.fid, dto.UpdateSshKeyRequest(required=False))
    finally:
        client.delete_ssh_key(key.fid)

    assert key.fid not in {k.fid for k in client.list_ssh_keys(project)}
    with pytest.raises(NotFoundError):
        client.update_ssh_key(key.fid, dto.UpdateSshKeyRequest(required=True))


def test_ssh_key_named_by_an_active_bid_cannot_be_deleted(client, mithril_sandbox):
    project = mithril_sandbox.project
    key = client.create_ssh_key(
        dto.CreateSshKeyRequest(
            project=project, name=unique("conf-used"), public_key=openssh_public_key()
        )
    )
    response = mithril_sandbox.api(
        "POST",
        "/v2/spot/bids",
        json=bid_body(project, name=unique("conf-used"), ssh_keys=[key.fid]),
    )
    assert response.status_code == 201, response.text
    try:
        with pytest.raises(TaskStateError):
            client.delete_ssh_key(key.fid)
    finally:
        client.cancel_bid(response.json()["fid"])
    client.delete_ssh_key(key.fid)
