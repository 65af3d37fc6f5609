"""%flow? and %flow NAME? come from the parsers; settings are FlowMagics traits (%config)."""

from __future__ import annotations

import pytest
from IPython.core import oinspect
from IPython.utils.capture import capture_output

from flow_notebook.notebook.commands import COMMANDS
from flow_notebook.notebook.commands.help import command_help, overview
from flow_notebook.notebook.magics import (
    _LOADED,
    FlowMagics,
    help_suffix,
    load_ipython_extension,
    unload_ipython_extension,
)
from flow_notebook.notebook.surfaces import PlainSurface


@pytest.fixture
def loaded(ip):
    load_ipython_extension(ip)
    yield ip
    unload_ipython_extension(ip)
    # %config writes the shell's config, which later magics of this shell would load.
    ip.config.pop("FlowMagics", None)


def _cell(ip, source: str) -> tuple[str, str]:
    with capture_output() as captured:
        result = ip.run_cell(source)
    assert result.error_in_exec is None, result.error_in_exec
    return captured.stdout, captured.stderr


def test_flow_question_mark_lists_every_subcommand(loaded):
    doc = oinspect.getdoc(loaded.find_magic("flow"))
    assert doc.startswith("Runs a flow subcommand")
    assert overview() in doc
    for name, module in COMMANDS.items():
        assert f"  {name.ljust(max(map(len, COMMANDS)))}  {module.SUMMARY}" in doc


def test_flow_question_mark_in_a_cell_shows_the_overview(loaded):
    out, _ = _cell(loaded, "%flow?")
    assert "usage: %flow COMMAND [options]" in out
    assert "reservations" in out


@pytest.mark.parametrize("line", ["%flow run?", "%flow run??", "  %flow run ?"])
def test_flow_subcommand_question_mark_shows_its_parser_help(loaded, line):
    out, _ = _cell(loaded, line)
    assert out.rstrip("\n") == command_help("run")
    assert "--keep-kb KB" in out


def test_only_a_bare_subcommand_question_is_rewritten():
    assert help_suffix(["%flow logs?\n"]) == ["%flow help logs\n"]
    kept = ["x = 1?\n", "%flow run -- echo what?\n", "%flow\n"]
    assert help_suffix(kept) == kept


def test_an_unknown_subcommand_question_says_so_in_one_line(loaded):
    with capture_output() as captured:
        result = loaded.run_cell("%flow lsit?")
    assert result.error_in_exec is not None
    assert "did you mean 'list'" in str(result.error_in_exec)
    assert "Traceback" not in captured.stdout


def test_unloading_removes_the_rewrite(ip):
    load_ipython_extension(ip)
    unload_ipython_extension(ip)
    assert help_suffix not in ip.input_transformers_cleanup


def test_settings_are_configurable_traits():
    names = set(FlowMagics.class_traits(config=True))
    assert {"poll_interval", "settle_timeout", "keep_kb", "dashboard_interval"} <= names
    for name in ("poll_interval", "keep_kb", "dashboard_interval"):
        assert FlowMagics.class_traits()[name].help


def test_config_magic_sets_keep_kb_for_new_views(loaded):
    magics = _LOADED[id(loaded)]
    _cell(loaded, "%config FlowMagics.keep_kb = 3")
    assert magics.keep_kb == 3
    surface = magics.session.make_surface({"task_id": "t"})
    assert isinstance(surface, PlainSurface)
    assert surface._head_left == 3 * 1024 // 2
    # An option given to one run still wins over the setting.
    assert magics.session.make_surface({}, keep_kb=10)._head_left == 10 * 1024 // 2


def test_config_magic_sets_the_poll_interval_and_settle_timeout(loaded):
    magics = _LOADED[id(loaded)]
    _cell(loaded, "%config FlowMagics.poll_interval = 0.25")
    _cell(loaded, "%config FlowMagics.settle_timeout = 3")
    assert magics.session.timing.poll_interval == 0.25
    assert magics.session.timing.settle_timeout == 3.0


def test_a_bad_setting_is_refused_and_the_old_value_kept(loaded):
    magics = _LOADED[id(loaded)]
    _cell(loaded, "%config FlowMagics.keep_kb = 5")
    _, err = _cell(loaded, "%config FlowMagics.keep_kb = 0")
    assert magics.keep_kb == 5
    assert magics.session.keep_kb == 5


def test_dashboard_interval_setting_is_the_default_and_the_option_wins(
    use_fake, flow, ip, monkeypatch
):
    from flow_notebook.notebook.widgets import front

    use_fake()
    magics = ip.magics_manager.registry["FlowMagics"]
    seen: list[float] = []
    monkeypatch.setattr(front, "show_dashboard", lambda session, **kw: seen.append(kw["interval"]))
    magics.dashboard_interval = 7.5
    flow("dashboard")
    flow("dashboard --interval 1")
    assert seen == [7.5, 1.0]
