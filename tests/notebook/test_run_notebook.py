"""The headless runner: runs the quickstart on the local provider, one-line failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"


def _run(notebook: Path, flow_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOW_HOME": str(flow_home)}
    return subprocess.run(
        [sys.executable, "-m", "flow_notebook.notebook.run_notebook", str(notebook)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_runner_executes_the_quickstart_and_says_how_to_open_it(tmp_path):
    before = QUICKSTART.read_bytes()
    done = _run(QUICKSTART, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "In [2]: %flow help\nusage: %flow COMMAND" in out
    assert "step 0\nstep 1\nstep 2\n" in out
    assert "failed (exit 3)" in out
    assert "already ended (cancelled)" in out
    assert "UsageError: unknown subcommand 'stauts' (did you mean 'status'?" in out
    assert out.rstrip().endswith(f"jupyter lab {QUICKSTART}")
    assert QUICKSTART.read_bytes() == before, "without --inplace the notebook is not rewritten"


def test_runner_stops_at_a_failing_cell_with_one_line(tmp_path):
    notebook = tmp_path / "broken.ipynb"
    cells = [new_code_cell("print('before')"), new_code_cell("1 / 0"), new_code_cell("print('x')")]
    nbformat.write(new_notebook(cells=cells), notebook)
    done = _run(notebook, tmp_path)
    assert done.returncode == 1
    assert "before" in done.stdout
    assert "print('x')" not in done.stdout
    assert "a cell failed: ZeroDivisionError: division by zero" in done.stderr.splitlines()


def test_runner_reports_an_unreadable_notebook(tmp_path):
    done = _run(tmp_path / "missing.ipynb", tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"cannot read {tmp_path / 'missing.ipynb'}")
