"""A Python cell that does not compile is refused here, before anything is submitted."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from .conftest import start_kernel, stop_kernel

BROKEN = "import math\nprint(math.pi)\nfor i in range(3)\n    print(i)\n"


def test_a_syntax_error_is_one_line_naming_the_line_and_nothing_is_submitted(ip, kernel):
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("flow", "run --wait", BROKEN)
    message = str(caught.value)
    assert "line 3: expected ':'" in message
    assert "for i in range(3)" in message
    assert "\n" not in message
    assert kernel.session.provider.list_tasks() == []


def test_a_bash_cell_is_not_compiled_as_python(ip, kernel):
    ip.run_cell_magic("flow", "run --wait --bash", "for i in 1 2; do echo $i; done\n")
    assert kernel.last.lines == ["1", "2"]


@pytest.mark.sandbox
def test_on_mithril_a_syntax_error_places_no_bid(ip, tmp_path, project, fresh_sandbox, monkeypatch):
    for name, value in fresh_sandbox.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLOW_PROVIDER", "mithril")
    kernel = start_kernel(ip, tmp_path / "state")
    try:
        with pytest.raises(UsageError, match="line 3: expected ':'"):
            ip.run_cell_magic("flow", "run --gpu a100 --wait", BROKEN)
    finally:
        stop_kernel(kernel)
    posts = [row for row in fresh_sandbox.stats()["requests"] if row["method"] == "POST"]
    assert posts == [], "nothing was submitted (and so nothing billed)"
