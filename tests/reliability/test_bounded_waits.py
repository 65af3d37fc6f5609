"""API waits are bounded per call and shown; a partial outage does not become a full one."""

from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.providers.mithril.api import CircuitBreaker

pytestmark = pytest.mark.sandbox


def test_a_429_storm_shows_its_waits_and_ends_one_list_within_the_deadline(
    http_sandbox, providers, shell_magics, figures
):
    provider = providers.provider(http_sandbox)
    provider.list_tasks()  # project and catalogue cached before the storm
    shell = shell_magics(provider)
    http_sandbox.faults("* /v2/*", rate_limit_rate=1.0, retry_after=60)
    before = len(providers.sleeps)
    try:
        with capture_output() as shown, pytest.raises(UsageError) as caught:
            shell.run_line_magic("flow", "list")
    finally:
        http_sandbox.reset_faults()
    waits = providers.sleeps[before:]
    assert waits == [60.0], "one 60 s wait fits the 75 s deadline, a second does not"
    assert "flow: rate-limited, retrying in 60 s, attempt 2/4" in shown.stdout.splitlines()
    message = str(caught.value)
    assert "rate limit" in message.lower() and "\n" not in message
    figures("rate_limit_storm", {"retry_after_s": 60, "waits_s": waits, "error": message})


def test_a_50_percent_outage_is_ridden_out_and_never_opens_the_breaker(
    http_sandbox, providers, figures
):
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout=2.0)
    provider = providers.provider(http_sandbox, api=providers.client(http_sandbox, breaker=breaker))
    provider.list_tasks()
    http_sandbox.reset_faults(seed=7)
    http_sandbox.faults("* /v2/*", error_rate=0.5, error_status=503)
    failed = 0
    try:
        for _ in range(200):
            try:
                provider.list_tasks(limit=5)
            except ProviderUnavailableError:
                failed += 1
            assert breaker.state == "closed"
    finally:
        http_sandbox.reset_faults()
    # A call fails only when all 4 attempts got a 503 (1 in 16); none is failed fast.
    assert failed < 40
    started = time.monotonic()
    provider.list_tasks(limit=5)
    figures(
        "half_outage",
        {"calls": 200, "failed": failed, "breaker_opened": 0,
         "first_call_after_faults_ms": round((time.monotonic() - started) * 1000, 1)},
    )  # fmt: skip
