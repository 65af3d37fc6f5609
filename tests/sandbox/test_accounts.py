"""The ``ubuntu`` account is written into the instance's /etc only, from the host's files."""

from __future__ import annotations

from pathlib import Path

from flow_notebook.sandbox.accounts import SUDOERS, ensure_ubuntu


def host_etc(tmp_path: Path, passwd: str, group: str) -> Path:
    etc = tmp_path / "host_etc"
    etc.mkdir()
    (etc / "passwd").write_text(passwd)
    (etc / "group").write_text(group)
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    return etc


def test_a_host_without_ubuntu_gets_it_only_in_the_instance_with_a_free_id(tmp_path):
    passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    group = "root:x:0:\nsudo:x:27:alice\nadm:x:4:\nalice:x:1000:\n"
    host = host_etc(tmp_path, passwd, group)
    etc = tmp_path / "upper" / "etc"

    assert ensure_ubuntu(host, etc) == (1001, 1001)

    assert (etc / "passwd").read_text().splitlines()[-1] == (
        "ubuntu:x:1001:1001:Ubuntu:/home/ubuntu:/bin/bash"
    )
    groups = (etc / "group").read_text().splitlines()
    assert "sudo:x:27:alice,ubuntu" in groups and "adm:x:4:ubuntu" in groups
    assert "ubuntu:x:1001:" in groups
    assert (etc / "shadow").read_text().splitlines()[-1].startswith("ubuntu:*:")
    assert (etc / SUDOERS).read_text() == "ubuntu ALL=(ALL) NOPASSWD:ALL\n"
    assert (etc / SUDOERS).stat().st_mode & 0o777 == 0o440
    assert (host / "passwd").read_text() == passwd and (host / "group").read_text() == group


def test_the_host_ubuntu_ids_are_kept_and_a_locked_password_is_unlocked(tmp_path):
    host = host_etc(tmp_path, "ubuntu:x:1500:1600::/home/ubuntu:/bin/bash\n", "ubuntu:x:1600:\n")
    (host / "shadow").write_text("ubuntu:!:19000:0:99999:7:::\n")
    etc = tmp_path / "upper" / "etc"

    assert ensure_ubuntu(host, etc) == (1500, 1600)
    assert (etc / "shadow").read_text() == "ubuntu:*:19000:0:99999:7:::\n"
    assert (etc / "group").read_text() == "ubuntu:x:1600:\n"


def test_an_instance_keeps_its_own_account_files_on_later_boots(tmp_path):
    host = host_etc(tmp_path, "root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\n")
    etc = tmp_path / "upper" / "etc"
    ensure_ubuntu(host, etc)
    changed = (etc / "passwd").read_text() + "added:x:2000:2000::/home/added:/bin/sh\n"
    (etc / "passwd").write_text(changed)

    assert ensure_ubuntu(host, etc) == (1000, 1000)
    assert (etc / "passwd").read_text() == changed
