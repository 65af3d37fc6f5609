"""%flow help: the subcommands with one line each, and one subcommand's options."""

from __future__ import annotations

import pytest

from flow_notebook.notebook.commands import COMMANDS


def test_help_lists_every_subcommand_with_its_summary(use_fake, flow):
    use_fake()
    _, out = flow("help")
    width = max(len(name) for name in COMMANDS)
    for name, module in COMMANDS.items():
        assert f"  {name.ljust(width)}  {module.SUMMARY}" in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_command_shows_its_usage(use_fake, flow, name):
    use_fake()
    _, out = flow(f"help {name}")
    assert out.startswith(f"usage: %flow {name}")


def test_help_run_shows_the_shared_option_groups(use_fake, flow):
    use_fake()
    _, out = flow("help run")
    for option in (
        "--gpu TYPE",
        "--instances N",
        "--env K=V",
        "--secret K[=V]",
        "--follow",
        "--timeout",
    ):
        assert option in out
