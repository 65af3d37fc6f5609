"""Resolves which SSH keys a bid carries and which local private key reaches it.

Resolution order:

1. ``MITHRIL_SSH_KEY`` / config ``ssh_key``: a platform key id (``sshkey_...``), a
   platform key name, or a private key path (its public key is matched against the
   project's keys and registered when missing);
2. local defaults (``id_ed25519``, ``id_rsa`` in the SSH directory) whose public key
   is already registered;
3. the key this package generated before (``$FLOW_HOME/keys/flow_ed25519``), or a
   new Ed25519 pair saved there with mode 0600, registered with the platform.

Keys the project marks ``required`` and keys the task names are added to the ids.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import ConfigurationError, NotFoundError
from flow_notebook.providers.mithril.api.dto import (
    CreatedSshKeyModel,
    CreateSshKeyRequest,
    NewSshKeyModel,
)

DEFAULT_KEY_NAMES = ("id_ed25519", "id_rsa")
GENERATED_KEY_NAME = "flow_ed25519"


class SSHKeyApi(Protocol):
    """The part of ``ApiClient`` that lists and registers SSH keys."""

    def list_ssh_keys(self, project: str) -> list[NewSshKeyModel]:
        """Returns the project's keys."""
        ...

    def create_ssh_key(self, request: CreateSshKeyRequest) -> CreatedSshKeyModel:
        """Registers a public key."""
        ...


@dataclass(frozen=True)
class GeneratedKeyPair:
    """A new key pair in OpenSSH formats.

    Attributes:
        private_openssh: Private key (never shown in a repr).
        public_openssh: Public key line, ``ssh-ed25519 AAAA...``.
    """

    private_openssh: str = field(repr=False)
    public_openssh: str


class IKeyPairGenerator(Protocol):
    """Makes new SSH key pairs."""

    def generate(self) -> GeneratedKeyPair:
        """Returns a new key pair."""
        ...


class Ed25519KeyGenerator:
    """Generates Ed25519 pairs with ``cryptography`` (paramiko's own backend), lazily."""

    def generate(self) -> GeneratedKeyPair:
        """Returns a new unencrypted Ed25519 pair in OpenSSH format."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode("ascii")
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode("ascii")
        )
        return GeneratedKeyPair(private_openssh=private, public_openssh=public)


@dataclass(frozen=True)
class ResolvedSSHKeys:
    """The outcome of resolution.

    Attributes:
        platform_key_ids: Key ids for the bid's launch specification.
        private_key_path: Local private key that opens the instances, when known.
        source: ``configured``, ``local`` or ``generated``.
    """

    platform_key_ids: list[str]
    private_key_path: Path | None
    source: str


class SSHKeyResolver:
    """Finds (or creates) the SSH keys for a project.

    Args:
        api: Lists and registers keys.
        project: Project id the keys belong to.
        config: Supplies ``ssh_key`` and ``home`` (generated keys live in ``home/keys``).
        ssh_dir: Directory of the user's keys; ``~/.ssh`` by default.
        generator: Makes new pairs; Ed25519 by default.
    """

    def __init__(
        self,
        api: SSHKeyApi,
        project: str,
        config: FlowConfig,
        ssh_dir: Path | None = None,
        generator: IKeyPairGenerator | None = None,
    ) -> None:
        self._api = api
        self._project = project
        self._config = config
        self._ssh_dir = ssh_dir if ssh_dir is not None else Path.home() / ".ssh"
        self._generator = generator or Ed25519KeyGenerator()

    @property
    def generated_key_path(self) -> Path:
        """Where a generated private key is kept."""
        return self._config.home / "keys" / GENERATED_KEY_NAME

    def resolve(self, requested: Sequence[str] = ()) -> ResolvedSSHKeys:
        """Returns the key ids for a bid and the private key to connect with.

        Args:
            requested: Extra key ids or names the task asks for.

        Returns:
            The resolved keys; the first id is the one matching the private key.

        Raises:
            NotFoundError: A configured or requested key is not in the project.
            ConfigurationError: A configured key path cannot be read.
        """
        keys = self._api.list_ssh_keys(self._project)
        if self._config.ssh_key:
            key_id, private = self._configured(self._config.ssh_key, keys)
            source = "configured"
        elif found := self._local_default(keys):
            key_id, private = found
            source = "local"
        else:
            key_id, private = self._generated(keys)
            source = "generated"
        extra = [self._by_id_or_name(spec, keys).fid for spec in requested]
        required = [key.fid for key in keys if key.required]
        ids = list(dict.fromkeys([key_id, *extra, *required]))
        return ResolvedSSHKeys(platform_key_ids=ids, private_key_path=private, source=source)

    def _configured(self, spec: str, keys: list[NewSshKeyModel]) -> tuple[str, Path | None]:
        path = Path(spec).expanduser()
        if not spec.startswith("sshkey_") and (
            "/" in spec or spec.startswith("~") or path.exists()
        ):
            if not path.is_file():
                raise ConfigurationError(f"SSH key file {path} does not exist")
            return self._register_if_missing(path, public_key_of(path), keys), path
        key = self._by_id_or_name(spec, keys)
        return key.fid, self._local_private_key_for(key)

    def _local_default(self, keys: list[NewSshKeyModel]) -> tuple[str, Path] | None:
        by_public = {_key_body(key.public_key): key for key in keys}
        for name in DEFAULT_KEY_NAMES:
            path = self._ssh_dir / name
            if path.is_file() and Path(f"{path}.pub").is_file():
                match = by_public.get(_key_body(Path(f"{path}.pub").read_text()))
                if match:
                    return match.fid, path
        return None

    def _generated(self, keys: list[NewSshKeyModel]) -> tuple[str, Path]:
        path = self.generated_key_path
        if not path.is_file():
            pair = self._generator.generate()
            save_key_pair(path, pair.private_openssh, pair.public_openssh)
        return self._register_if_missing(path, public_key_of(path), keys), path

    def _register_if_missing(self, path: Path, public: str, keys: list[NewSshKeyModel]) -> str:
        for key in keys:
            if _key_body(key.public_key) == _key_body(public):
                return key.fid
        name = f"flow-{socket.gethostname().split('.')[0] or 'host'}-{path.stem}"
        request = CreateSshKeyRequest(project=self._project, name=name, public_key=public.strip())
        return self._api.create_ssh_key(request).fid

    def _by_id_or_name(self, spec: str, keys: list[NewSshKeyModel]) -> NewSshKeyModel:
        for key in keys:
            if spec in (key.fid, key.name):
                return key
        raise NotFoundError(
            f"SSH key {spec!r} is not in project {self._project}",
            suggestion="check the key id or name, or set MITHRIL_SSH_KEY to a private key path",
        )

    def _local_private_key_for(self, key: NewSshKeyModel) -> Path | None:
        wanted = _key_body(key.public_key)
        candidates = [self._ssh_dir / name for name in DEFAULT_KEY_NAMES]
        candidates.append(self.generated_key_path)
        for path in candidates:
            pub = Path(f"{path}.pub")
            if path.is_file() and pub.is_file() and _key_body(pub.read_text()) == wanted:
                return path
        return None


def public_key_of(private_key_path: Path) -> str:
    """Returns the OpenSSH public key line of a private key.

    Reads ``<path>.pub`` when present, else derives it from the (unencrypted) key.

    Raises:
        ConfigurationError: The key cannot be read.
    """
    pub = Path(f"{private_key_path}.pub")
    if pub.is_file():
        return pub.read_text().strip()
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private_key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"cannot read SSH private key {private_key_path}",
            suggestion="put its public key next to it as <key>.pub",
        ) from exc
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode("ascii")
    )


def _key_body(public_key: str) -> str:
    """Returns ``type base64`` without the comment, for comparing public keys."""
    return " ".join(public_key.split()[:2])


def save_key_pair(path: Path, private: str, public: str) -> bool:
    """Creates ``path`` (mode 0600) and ``path.pub``; an existing key is never overwritten.

    The one way private key files are written here. Both are written to unique
    temporary names first; the private key is then linked into place (atomic, fails
    if it exists), so two kernels never see half a key.

    Returns:
        Whether the pair was written (``False``: a key was already there, e.g. another
        kernel generated it at the same time; that one is kept).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tag = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
    private_tmp, public_tmp = Path(f"{path}{tag}"), Path(f"{path}.pub{tag}")
    try:
        fd = os.open(private_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(private)
        public_tmp.write_text(public.strip() + "\n")
        try:
            os.link(private_tmp, path)
        except FileExistsError:
            return False
        os.replace(public_tmp, Path(f"{path}.pub"))
        return True
    finally:
        private_tmp.unlink(missing_ok=True)
        public_tmp.unlink(missing_ok=True)
