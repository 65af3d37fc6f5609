"""Smoke run of the benchmarks: every suite still executes, with tiny sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITES = (
    "load",
    "requests",
    "logs",
    "sync",
    "dashboard",
    "cellrun",
    "self_end",
    "volume",
    "history",
)

pytestmark = [pytest.mark.ssh]


def _table_rows(page: str) -> list[list[str]]:
    table = page.split("| what | target | measured | verdict |", 1)[1].split("\n\n", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in table.strip().splitlines()[1:]
    ]


def test_quick_run_fills_every_row_of_the_report(require_ssh, tmp_path):
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    page = output.read_text()
    rows = _table_rows(page)
    assert len(rows) == 19, rows
    for what, target, measured, verdict in rows:
        assert "did not complete" not in what and measured and target != "-", what
        assert verdict in ("met", "**missed**"), (what, verdict)
    assert "Quick mode" in page
    for fact in ("| CPU |", "| cores |", "| memory |", "| Python |"):
        assert fact in page


def test_unknown_suite_is_refused_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope", "--output", str(tmp_path / "b")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown suites: nope" in done.stderr
    assert not (tmp_path / "b").exists()
