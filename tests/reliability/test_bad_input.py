"""Generated bad input: each is a typed one-line error and none reaches the API.

Hypothesis draws invalid task names, prices, volume names and sizes, instance types,
regions, environment values and whole ``%flow`` lines. Through an ``InteractiveShell``
every one is a one-line ``UsageError`` (or, for generated lines, a harmless success);
called on the provider directly, each is a ``FlowError``. The sandbox then reports no
422 answer and no bid or volume POST: nothing unvalidated was sent.
"""

from __future__ import annotations

import re
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import TaskConfig
from flow_notebook.sandbox import catalog

pytestmark = pytest.mark.sandbox

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TASK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$")
VOLUME_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
REGIONS = set(catalog.REGIONS)
text = st.text(st.characters(codec="utf-8"), max_size=80)


class Bench(tuple):
    """(shell, provider); ``sends_allowed`` lets valid generated lines place bids."""

    sends_allowed = False


@pytest.fixture
def bench(http_sandbox, providers, shell_magics):
    """A shell whose %flow runs on a no-instance sandbox, with request counts reset."""
    provider = providers.provider(http_sandbox)
    shell = shell_magics(provider)
    provider.list_tasks()  # project, catalogue and key lookups happen before counting
    http_sandbox.control("DELETE", "/stats")
    made = Bench((shell, provider))
    yield made
    stats = http_sandbox.stats()
    posts = [row for row in stats["requests"] if row["method"] == "POST"]
    assert stats["count_422"] == 0, stats
    assert made.sends_allowed or posts == [], posts


def one_line_usage_error(shell, line: str) -> str:
    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("flow", line)
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


@EXAMPLES
@given(name=text.filter(lambda s: not TASK_NAME.match(s)))
def test_invalid_task_names_are_one_line_and_never_sent(bench, name):
    shell, _ = bench
    message = one_line_usage_error(shell, f"run --name {shlex.quote(name)} -- echo hi")
    assert "name" in message


@EXAMPLES
@given(
    price=st.one_of(
        st.floats(max_value=0),
        st.floats(min_value=10_000.01),
        st.sampled_from(["nan", "inf", "-inf", "1e999", "$3", "3,50", "", "0x1p3 USD"]),
    )
)
def test_invalid_prices_are_one_line_and_never_sent(bench, price):
    shell, _ = bench
    one_line_usage_error(shell, f"run --max-price {shlex.quote(str(price))} -- echo hi")


@EXAMPLES
@given(
    name=text.filter(lambda s: s.strip() and not VOLUME_NAME.match(s) and len(s) <= 64),
    size=st.integers(min_value=1, max_value=100),
)
def test_invalid_volume_names_are_one_line_and_never_sent(bench, name, size):
    shell, provider = bench
    one_line_usage_error(shell, f"volumes --create {shlex.quote(name)} --size {size}")
    with pytest.raises(FlowError):
        provider.create_volume(size, name)


@EXAMPLES
@given(size=st.one_of(st.integers(max_value=0), st.integers(min_value=16_000_000)))
def test_invalid_volume_sizes_are_one_line_and_never_sent(bench, size):
    shell, provider = bench
    one_line_usage_error(shell, f"volumes --create data --size {size}")
    with pytest.raises(FlowError):
        provider.create_volume(size, "data")


@EXAMPLES
@given(spec=text.filter(lambda s: s.strip() and not any(g in s for g in ("100", "200", "v6e"))))
def test_unknown_instance_types_are_one_line_and_never_sent(bench, spec):
    shell, provider = bench
    one_line_usage_error(shell, f"run --gpu {shlex.quote(spec)} -- echo hi")
    with pytest.raises(FlowError):
        provider.submit_task(spec, TaskConfig(command="echo hi"))


@EXAMPLES
@given(region=text.filter(lambda s: s.strip() and s not in REGIONS))
def test_unknown_regions_are_one_line_and_never_sent(bench, region):
    shell, provider = bench
    message = one_line_usage_error(shell, f"run --region {shlex.quote(region)} -- echo hi")
    assert "region" in message
    with pytest.raises(FlowError):
        provider.submit_task("a100", TaskConfig(command="echo hi", region=region))


@EXAMPLES
@given(
    key=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    value=st.text(max_size=20).map(lambda s: s + "\x00" + s),
    bad_key=st.text(max_size=12).filter(
        lambda s: not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", s) and "=" not in s
    ),
)
def test_invalid_environment_values_and_names_are_one_line_and_never_sent(
    bench, key, value, bad_key
):
    shell, _ = bench
    one_line_usage_error(shell, f"run --env {shlex.quote(f'{key}={value}')} -- echo hi")
    one_line_usage_error(shell, f"run --env {shlex.quote(f'{bad_key}=1')} -- echo hi")


def test_an_environment_value_over_the_size_limit_is_one_line_and_never_sent(bench):
    shell, _ = bench
    flow = shell.find_line_magic("flow")  # IPython's own $-expansion is slow on huge lines
    with pytest.raises(UsageError) as caught:
        flow(f"run --env K={'x' * 32_769} -- echo hi")
    assert "longer than 32768" in str(caught.value) and len(str(caught.value)) < 200


TOKENS = [
    "--gpu", "a100", "zz", "--instances", "0", "-1", "65", "--region", "mars", "--max-price",
    "nan", "-2", "--max-cost", "0", "--timeout", "-5", "--env", "A=1", "1A=2", "--name", "a b",
    "--volume", "x:rel", "'", '"', "\\", "$(", ";", "|", "--size", "--create", "Bad", "--delete",
    "bid_nope", "../..", "-h", "--bogus", "=", ":", "\x00",
]  # fmt: skip
SUBCOMMANDS = ["run", "status", "logs", "cancel", "list", "volumes", "instances", "nope", ""]


@EXAMPLES
@given(
    sub=st.sampled_from(SUBCOMMANDS),
    words=st.lists(st.one_of(st.sampled_from(TOKENS), text), max_size=6),
)
def test_generated_magic_lines_end_in_success_or_one_usage_error_line(bench, sub, words):
    shell, _ = bench
    bench.sends_allowed = True  # a generated line may well be valid
    line = " ".join([sub, *words])
    try:
        with capture_output():
            shell.run_line_magic("flow", line)
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc)


def test_a_bad_line_shows_as_one_usage_error_line_without_a_traceback(bench):
    shell, _ = bench
    with capture_output() as captured:
        shell.run_cell("%flow run --instances 0 -- echo hi")
    shown = (captured.stdout + captured.stderr).strip()
    assert shown.startswith("UsageError: ") and "\n" not in shown
    assert "Traceback" not in shown


def test_image_names_docker_would_refuse_are_one_line_and_never_sent(bench):
    shell, provider = bench
    for image in ["ubuntu;reboot", "$(reboot)", "-v/:/host", "Ubuntu:22.04", "ubuntu 22.04", ""]:
        message = one_line_usage_error(shell, f"run --image={shlex.quote(image)} -- echo hi")
        assert "not a container image reference" in message
        with pytest.raises(FlowError, match="not a container image reference"):
            provider.submit_task("a100", TaskConfig(command="echo hi", image=image))


def test_registry_credentials_half_given_or_without_an_image_are_refused(bench):
    shell, _ = bench
    message = one_line_usage_error(
        shell, "run --image ghcr.io/org/x:1 --secret FLOW_REGISTRY_USER=me -- echo hi"
    )
    assert "FLOW_REGISTRY_PASSWORD is missing" in message and "me" not in message.split()
    message = one_line_usage_error(
        shell,
        "run --secret FLOW_REGISTRY_USER=me --secret FLOW_REGISTRY_PASSWORD=pw -- echo hi",
    )
    assert "used only with --image" in message and "pw" not in message
