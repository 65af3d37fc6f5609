from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import ConfigurationError, NotFoundError
from flow_notebook.providers.mithril.api.dto import CreatedSshKeyModel, NewSshKeyModel
from flow_notebook.providers.mithril.domain.ssh_keys import (
    Ed25519KeyGenerator,
    SSHKeyResolver,
    public_key_of,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class FakeKeyApi:
    def __init__(self, keys=()):
        self.keys = list(keys)
        self.created = []

    def list_ssh_keys(self, project):
        assert project == "proj_1"
        return list(self.keys)

    def create_ssh_key(self, request):
        self.created.append(request)
        key = CreatedSshKeyModel(
            fid=f"sshkey_new{len(self.created)}",
            name=request.name,
            project=request.project,
            public_key=request.public_key,
            created_at=T0,
            required=False,
        )
        self.keys.append(NewSshKeyModel(**key.model_dump(exclude={"private_key"})))
        return key


class CountingGenerator:
    def __init__(self):
        self.calls = 0
        self._real = Ed25519KeyGenerator()

    def generate(self):
        self.calls += 1
        return self._real.generate()


def _platform_key(fid, public, *, name=None, required=False):
    return NewSshKeyModel(
        fid=fid,
        name=name or fid,
        project="proj_1",
        public_key=public,
        created_at=T0,
        required=required,
    )


def _local_pair(directory: Path, name: str) -> tuple[Path, str]:
    pair = Ed25519KeyGenerator().generate()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(pair.private_openssh)
    path.chmod(0o600)
    Path(f"{path}.pub").write_text(pair.public_openssh + " me@laptop\n")
    return path, pair.public_openssh


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "flow_home"
    ssh_dir = tmp_path / "ssh"
    ssh_dir.mkdir()
    return home, ssh_dir


def _resolver(api, home, ssh_dir, *, ssh_key=None, generator=None):
    config = FlowConfig(home=home, ssh_key=ssh_key)
    return SSHKeyResolver(api, "proj_1", config, ssh_dir=ssh_dir, generator=generator)


def test_configured_platform_key_id_is_used_with_its_matching_local_key(env):
    home, ssh_dir = env
    path, public = _local_pair(ssh_dir, "id_ed25519")
    api = FakeKeyApi([_platform_key("sshkey_abc", public)])
    resolved = _resolver(api, home, ssh_dir, ssh_key="sshkey_abc").resolve()
    assert resolved.platform_key_ids == ["sshkey_abc"]
    assert resolved.private_key_path == path
    assert resolved.source == "configured"


def test_configured_platform_key_name_resolves_to_its_id(env):
    home, ssh_dir = env
    api = FakeKeyApi([_platform_key("sshkey_abc", "ssh-ed25519 AAAAother", name="laptop")])
    resolved = _resolver(api, home, ssh_dir, ssh_key="laptop").resolve()
    assert resolved.platform_key_ids == ["sshkey_abc"]
    assert resolved.private_key_path is None


def test_configured_unknown_key_raises_not_found(env):
    home, ssh_dir = env
    with pytest.raises(NotFoundError, match="'sshkey_nope' is not in project proj_1"):
        _resolver(FakeKeyApi(), home, ssh_dir, ssh_key="sshkey_nope").resolve()


def test_configured_key_path_already_registered_is_matched_by_public_key(env):
    home, ssh_dir = env
    path, public = _local_pair(ssh_dir / "custom", "work_key")
    api = FakeKeyApi([_platform_key("sshkey_work", public + " other-comment")])
    resolved = _resolver(api, home, ssh_dir, ssh_key=str(path)).resolve()
    assert resolved.platform_key_ids == ["sshkey_work"]
    assert resolved.private_key_path == path
    assert api.created == []


def test_configured_key_path_not_registered_is_registered(env):
    home, ssh_dir = env
    path, public = _local_pair(ssh_dir / "custom", "work_key")
    Path(f"{path}.pub").unlink()  # the public key is derived from the private key
    api = FakeKeyApi()
    resolved = _resolver(api, home, ssh_dir, ssh_key=str(path)).resolve()
    assert resolved.platform_key_ids == ["sshkey_new1"]
    assert api.created[0].public_key == public
    assert api.created[0].project == "proj_1"


def test_configured_missing_key_path_is_a_configuration_error(env):
    home, ssh_dir = env
    with pytest.raises(ConfigurationError, match="does not exist"):
        _resolver(FakeKeyApi(), home, ssh_dir, ssh_key=str(ssh_dir / "missing")).resolve()


def test_local_default_key_registered_on_platform_is_used(env):
    home, ssh_dir = env
    _local_pair(ssh_dir, "id_ed25519")
    rsa_path, rsa_public = _local_pair(ssh_dir, "id_rsa")
    api = FakeKeyApi([_platform_key("sshkey_rsa", rsa_public)])
    generator = CountingGenerator()
    resolved = _resolver(api, home, ssh_dir, generator=generator).resolve()
    assert resolved.platform_key_ids == ["sshkey_rsa"]
    assert resolved.private_key_path == rsa_path
    assert resolved.source == "local"
    assert generator.calls == 0


def test_without_usable_keys_a_new_pair_is_generated_saved_private_and_registered(env):
    home, ssh_dir = env
    _local_pair(ssh_dir, "id_ed25519")  # present locally but not on the platform
    api, generator = FakeKeyApi(), CountingGenerator()
    resolved = _resolver(api, home, ssh_dir, generator=generator).resolve()
    assert resolved.source == "generated"
    assert resolved.platform_key_ids == ["sshkey_new1"]
    path = resolved.private_key_path
    assert path == home / "keys" / "flow_ed25519"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert api.created[0].public_key == public_key_of(path)
    import paramiko

    loaded = paramiko.Ed25519Key.from_private_key_file(str(path))
    assert api.created[0].public_key.split()[1] == loaded.get_base64()


def test_generated_key_is_reused_by_the_next_resolution(env):
    home, ssh_dir = env
    api, generator = FakeKeyApi(), CountingGenerator()
    first = _resolver(api, home, ssh_dir, generator=generator).resolve()
    second = _resolver(api, home, ssh_dir, generator=generator).resolve()
    assert generator.calls == 1
    assert len(api.created) == 1
    assert second.platform_key_ids == first.platform_key_ids


def test_requested_and_required_keys_are_added_without_duplicates(env):
    home, ssh_dir = env
    path, public = _local_pair(ssh_dir, "id_ed25519")
    api = FakeKeyApi(
        [
            _platform_key("sshkey_mine", public),
            _platform_key("sshkey_team", "ssh-ed25519 AAAAteam", name="team"),
            _platform_key("sshkey_ops", "ssh-ed25519 AAAAops", required=True),
        ]
    )
    resolved = _resolver(api, home, ssh_dir).resolve(requested=["team", "sshkey_mine"])
    assert resolved.platform_key_ids == ["sshkey_mine", "sshkey_team", "sshkey_ops"]


def test_generated_pair_repr_hides_the_private_key():
    pair = Ed25519KeyGenerator().generate()
    assert "PRIVATE" in pair.private_openssh
    assert "PRIVATE" not in repr(pair)


class BarrierGenerator:
    """Makes every caller generate at the same moment, as two kernels starting together."""

    def __init__(self, parties: int) -> None:
        import threading

        self._barrier = threading.Barrier(parties, timeout=10)
        self._real = Ed25519KeyGenerator()

    def generate(self):
        pair = self._real.generate()
        self._barrier.wait()
        return pair


def test_kernels_generating_the_key_at_once_share_one_key_and_none_fails(env):
    import threading

    home, ssh_dir = env
    generator = BarrierGenerator(4)
    results, errors = [], []

    def resolve():
        try:
            results.append(_resolver(FakeKeyApi(), home, ssh_dir, generator=generator).resolve())
        except Exception as exc:  # noqa: BLE001 - the test collects what escaped
            errors.append(exc)

    threads = [threading.Thread(target=resolve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    paths = {resolved.private_key_path for resolved in results}
    assert len(paths) == 1
    path = paths.pop()
    assert path.stat().st_mode & 0o777 == 0o600
    derived = public_key_of_private_only(path)
    assert derived == " ".join(Path(f"{path}.pub").read_text().split()[:2])
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, f"{path.name}.pub"]


def public_key_of_private_only(path: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode("ascii")
