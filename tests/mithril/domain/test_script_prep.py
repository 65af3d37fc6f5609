from __future__ import annotations

import os
import random
import string
import subprocess
import time
from pathlib import Path

import pytest

from flow_notebook.core.errors import ScriptTooLargeError
from flow_notebook.providers.mithril.domain.script_prep import (
    CompressedStrategy,
    InlineStrategy,
    ScriptPreparationService,
    SplitStrategy,
)
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout


def _compressible(chars: int) -> str:
    head = "#!/bin/bash\necho hello\n"
    return head + "#" * (chars - len(head))


def _incompressible(chars: int) -> str:
    rng = random.Random(7)
    head = "#!/bin/bash\n: '"
    tail = "'\n"
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(chars))
    return (head + body)[: chars - len(tail)] + tail


def _service(tmp_path: Path | None = None) -> ScriptPreparationService:
    layout = RuntimeLayout(str(tmp_path)) if tmp_path else None
    return ScriptPreparationService(
        [InlineStrategy(), CompressedStrategy(), SplitStrategy(layout)], max_chars=10_000
    )


@pytest.mark.parametrize("chars", [9_999, 10_000])
def test_scripts_up_to_the_limit_go_inline(chars):
    script = _incompressible(chars)
    assert len(script) == chars
    prepared = _service().prepare(script)
    assert prepared.strategy == "inline"
    assert prepared.startup_script == script
    assert not prepared.needs_upload


def test_compressible_script_one_over_the_limit_is_compressed():
    script = _compressible(10_001)
    prepared = _service().prepare(script)
    assert prepared.strategy == "compressed"
    assert prepared.chars < 1_000
    assert prepared.original_chars == 10_001


def test_incompressible_script_one_over_the_limit_is_split():
    script = _incompressible(10_001)
    assert len(script) == 10_001
    prepared = _service().prepare(script)
    assert prepared.strategy == "split"
    assert prepared.deferred_script == script
    assert prepared.needs_upload
    # Scripts may hold secrets, so neither body appears in a repr.
    assert script[20:60] not in repr(prepared)
    assert "#!/bin/bash" not in repr(prepared)


def test_nothing_fits_raises_naming_the_sizes():
    service = ScriptPreparationService([InlineStrategy(), CompressedStrategy()], max_chars=100)
    with pytest.raises(ScriptTooLargeError) as info:
        service.prepare(_incompressible(5_000))
    message = str(info.value)
    assert "5,000 characters does not fit in 100 characters" in message
    assert "inline 5,000" in message and "compressed " in message
    assert "\n" not in message


def test_compressed_bootstrap_runs_the_original_script(tmp_path):
    out = tmp_path / "out.txt"
    script = (
        "#!/bin/bash\nset -e\n"
        f"printf '%s|%s\\n' \"$0\" 'quote'\\''s $(not run)' > {out}\n"
        + "# padding\n" * 2_000
        + "exit 5\n"
    )
    prepared = CompressedStrategy().prepare(script)
    result = subprocess.run(["bash", "-c", prepared.startup_script], timeout=20)
    assert result.returncode == 5
    decoded_path, text = out.read_text().rstrip("\n").split("|", 1)
    assert text == "quote's $(not run)"
    assert not os.path.exists(decoded_path), "the decoded copy should be removed"


def test_split_bootstrap_runs_the_body_once_uploaded(tmp_path):
    layout = RuntimeLayout(str(tmp_path / "inst"))
    out = tmp_path / "out.txt"
    prepared = SplitStrategy(layout, wait_seconds=10, poll_seconds=0.05).prepare(
        f"echo deferred-ran > {out}\n"
    )
    Path(layout.log_dir).mkdir(parents=True)
    Path(layout.deferred_script).write_text(prepared.deferred_script)
    Path(layout.deferred_ready_marker).touch()
    result = subprocess.run(["bash", "-c", prepared.startup_script], timeout=20)
    assert result.returncode == 0
    assert out.read_text() == "deferred-ran\n"


def test_split_bootstrap_gives_up_after_bounded_wait(tmp_path):
    layout = RuntimeLayout(str(tmp_path / "inst"))
    prepared = SplitStrategy(layout, wait_seconds=1, poll_seconds=0.05).prepare("true\n")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", prepared.startup_script], timeout=20, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "not uploaded within 1s" in result.stderr
    assert time.monotonic() - started < 10


def test_default_service_uses_all_three_strategies_with_10000_limit():
    service = ScriptPreparationService()
    assert service.max_chars == 10_000
    assert service.prepare(_incompressible(20_000)).strategy == "split"


@pytest.mark.parametrize(
    "script",
    [
        _compressible(10_000),
        _compressible(60_000),
        _incompressible(10_001),
        _incompressible(80_000),
    ],
    ids=["inline", "compressed", "split", "split-large"],
)
def test_what_the_client_sends_is_within_the_apis_script_limit(script):
    """The limit the client fits scripts into is the one the API (and the sandbox) enforces."""
    import json

    from flow_notebook.sandbox.spec.schemas import STARTUP_SCRIPT_MAX_CHARS
    from flow_notebook.sandbox.validation import RequestValidator, spec_index

    service = ScriptPreparationService()
    assert service.max_chars == STARTUP_SCRIPT_MAX_CHARS
    prepared = service.prepare(script)
    body = {
        "project": "proj_x",
        "region": "us-central1-a",
        "instance_type": "it_x",
        "limit_price": "$1.00",
        "instance_quantity": 1,
        "name": "n",
        "launch_specification": {
            "volumes": [],
            "ssh_keys": [],
            "startup_script": prepared.startup_script,
        },
    }
    validator = RequestValidator(spec_index())
    assert validator.problems("POST", "/v2/spot/bids", "", json.dumps(body).encode()) == []
