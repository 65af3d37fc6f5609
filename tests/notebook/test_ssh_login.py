"""The ssh command's Host entry: options carried over, other entries kept, file private."""

from __future__ import annotations

import stat

import pytest

from flow_notebook.notebook.ssh_login import config_entry, host_alias, write_config_entry

COMMAND = (
    "ssh -p 2222 -i /keys/id -o IdentitiesOnly=yes -o 'UserKnownHostsFile=/h/known hosts' "
    "-o StrictHostKeyChecking=yes ubuntu@10.0.0.5"
)


def test_entry_carries_host_user_port_key_and_options():
    assert config_entry("flow-t1", COMMAND) == (
        "Host flow-t1\n"
        "    HostName 10.0.0.5\n"
        "    User ubuntu\n"
        "    Port 2222\n"
        "    IdentityFile /keys/id\n"
        "    IdentitiesOnly yes\n"
        "    UserKnownHostsFile /h/known hosts\n"
        "    StrictHostKeyChecking yes\n"
    )


@pytest.mark.parametrize("command", ["scp a b", "ssh -p 22", "ssh -X host"])
def test_entry_refuses_what_it_cannot_translate(command):
    with pytest.raises(ValueError):
        config_entry("flow-t1", command)


def test_alias_keeps_only_safe_characters():
    assert host_alias("bid_1/x y") == "flow-bid_1_x_y"


def test_writing_replaces_the_same_host_and_keeps_others(tmp_path):
    path = tmp_path / "ssh" / "config"
    write_config_entry(path, "flow-a", config_entry("flow-a", "ssh u@old"))
    write_config_entry(path, "flow-b", config_entry("flow-b", "ssh u@b"))
    write_config_entry(path, "flow-a", config_entry("flow-a", "ssh u@new"))
    text = path.read_text()
    assert "old" not in text and text.count("Host flow-a\n") == 1 and "HostName b" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
