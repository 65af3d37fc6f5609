"""The %flow magic as a user meets it: routing, one-line errors, loading, no heavy imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.notebook.magics import (
    FlowMagics,
    load_ipython_extension,
    unload_ipython_extension,
)

USAGE_ERRORS = [
    ("lsit", "unknown subcommand 'lsit' (did you mean 'list'?"),
    ("frobnicate", "unknown subcommand 'frobnicate' (see %flow help)"),
    ("run", "put the command after --"),
    ("run echo hi", "put the command after --"),
    ("run --", "nothing to run after --"),
    ("run --gpu a100 --", "nothing to run after --"),
    ("run --gpu --", "argument -g/--gpu: expected one argument"),
    ("run --instances two -- echo hi", "argument --instances: invalid int value: 'two'"),
    ("run --instances 0 -- echo hi", "num_instances: Input should be greater than or equal to 1"),
    ("run --max-price 0 -- echo hi", "max_price_per_hour: Input should be greater than 0"),
    ("run --env NOEQUALS -- echo hi", "--env expects KEY=VALUE, got 'NOEQUALS'"),
    ("run --env =x -- echo hi", "--env expects KEY=VALUE, with a non-empty KEY"),
    ("run --env 1BAD=x -- echo hi", "env: environment variable name '1BAD' is not valid"),
    ("run --name 'bad name' -- echo hi", "name: name must be 1-63 letters"),
    ("run --follow --wait -- echo hi", "argument --wait: not allowed with argument --follow"),
    ("run --upload --no-upload -- echo hi", "not allowed with argument --upload"),
    ("run --timeout soon -- echo hi", "argument --timeout: invalid float value: 'soon'"),
    (
        "run --secret FLOW_TEST_UNSET_VAR -- echo hi",
        "no such variable in this kernel's environment",
    ),
    ("run --bogus -- echo hi", "unrecognized arguments: --bogus"),
    ("run -- 'unbalanced", "cannot read the line: No closing quotation"),
    ("status", "no task started in this kernel yet"),
    ("status nope", "no task 'nope'"),
    ("status a b", "unrecognized arguments: b"),
    ("logs", "no task started in this kernel yet"),
    ("logs nope", "no task 'nope'"),
    ("logs nope --tail abc", "argument --tail: invalid positive integer value: 'abc'"),
    ("logs nope --follow --timeout 0", "argument --timeout: expected a number above 0"),
    ("wait nope --timeout -5", "argument --timeout: expected a number above 0"),
    ("attach nope --wait --timeout nan", "argument --timeout: expected a number above 0"),
    ("cancel", "the following arguments are required: TASK"),
    ("cancel nope", "no task 'nope'"),
    ("list --status weird", "argument --status: invalid choice: 'weird'"),
    ("list --limit 0", "argument --limit: invalid positive integer value: '0'"),
    ("use", "the following arguments are required: PROVIDER"),
    ("help nothing", "unknown subcommand 'nothing'"),
    ("help rn", "did you mean 'run'?"),
]


@pytest.mark.parametrize(("line", "expected"), USAGE_ERRORS)
def test_bad_input_is_one_usage_error_line(use_fake, flow, line, expected):
    provider = use_fake()
    with pytest.raises(UsageError) as caught:
        flow(line)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert provider.tasks == {}, "a rejected line must not start anything"


def test_run_cell_shows_usage_error_without_traceback(ip, use_fake):
    use_fake()
    with capture_output() as captured:
        result = ip.run_cell("%flow status nope")
    assert isinstance(result.error_in_exec, UsageError)
    shown = captured.stdout + captured.stderr
    assert "UsageError: no task 'nope' (see %flow list)" in shown
    assert "Traceback" not in shown
    with pytest.raises(UsageError):
        result.raise_error()


def test_empty_line_prints_the_overview(use_fake, flow):
    use_fake()
    value, out = flow("")
    assert value is None
    assert out.startswith("usage: %flow COMMAND")


def test_dash_h_prints_help_and_starts_nothing(use_fake, flow):
    provider = use_fake()
    value, out = flow("run -h")
    assert value is None
    assert "--max-price USD" in out
    assert provider.tasks == {}


def test_provider_is_built_once_on_first_use(ip, flow, fake_class):
    built: list[str | None] = []

    def factory(name=None):
        built.append(name)
        return fake_class()

    ip.register_magics(FlowMagics(ip, provider_factory=factory))
    flow("help")
    assert built == []
    flow("list")
    flow("list")
    assert built == [None]


def test_unknown_configured_provider_is_one_line(ip, flow, monkeypatch):
    monkeypatch.setenv("FLOW_PROVIDER", "nosuch")
    ip.register_magics(FlowMagics(ip))
    with pytest.raises(UsageError, match=r"^unknown provider 'nosuch' \(choose one of: .*local"):
        flow("list")


def test_unload_closes_the_provider(ip, flow, fake_class):
    load_ipython_extension(ip)
    try:
        ip.magics_manager.registry["FlowMagics"].session._factory = lambda name=None: provider
        provider = fake_class()
        flow("list")
    finally:
        unload_ipython_extension(ip)
    assert provider.closed


def test_secrets_never_appear_in_output(use_fake, flow, monkeypatch):
    provider = use_fake()
    monkeypatch.setenv("FLOW_TEST_TOKEN", "from-env-s3cret")
    task, out = flow(
        "run --secret API=hunter2-s3cret --secret FLOW_TEST_TOKEN --env MODE=fast --follow -- env"
    )
    shown = out + flow("status")[1] + flow("list")[1] + repr(task) + repr(provider.configs)
    assert "hunter2-s3cret" not in shown
    assert "from-env-s3cret" not in shown
    assert provider.configs[task.task_id].secret_values() == {
        "API": "hunter2-s3cret",
        "FLOW_TEST_TOKEN": "from-env-s3cret",
    }
    assert provider.configs[task.task_id].env == {"MODE": "fast"}


def test_bad_secret_name_does_not_echo_its_value(use_fake, flow):
    use_fake()
    with pytest.raises(UsageError) as caught:
        flow("run --secret 1BAD=hunter2-s3cret -- echo hi")
    assert "hunter2-s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None or "hunter2" not in str(caught.value.__cause__)


def test_load_ext_imports_no_widgets_ssh_or_http(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "flow_notebook")
        ip.run_line_magic("flow", "help")
        heavy = ("ipywidgets", "paramiko", "requests")
        print("HEAVY", sorted(name for name in heavy if name in sys.modules))
        """
    )
    env = {**os.environ, "FLOW_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
    assert "%flow COMMAND" in done.stdout


def test_a_kernel_shutdown_closes_the_session_and_says_why(ip):
    from flow_notebook.notebook.magics import _LOADED

    load_ipython_extension(ip)
    session = _LOADED[id(ip)].session
    reasons = []
    session.on_close(lambda: reasons.append(session.close_reason))
    try:
        ip.exit_now = True  # what ipykernel sets while handling a shutdown request
    finally:
        ip.exit_now = False
        unload_ipython_extension(ip)
    assert reasons == ["the kernel shut down"]
