"""Cell scripts: the prologue, pushed values in, pulled values out, and what is refused."""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.notebook.cellscript import (
    MAX_PUSH_BYTES,
    PULL_KEY_ENV,
    PULL_MARKER,
    build_cell_script,
    join_pull_lines,
    pack_variables,
    parse_names,
    read_pull_line,
    unpack_pulled,
)
from flow_notebook.notebook.pull_keys import sign

KEY = bytes(range(32))


def _run(script: str, cwd) -> subprocess.CompletedProcess[str]:
    (cwd / "script.py").write_text(script)
    env = {**os.environ, PULL_KEY_ENV: KEY.hex()}
    return subprocess.run(
        [sys.executable, "script.py"], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


def test_a_python_cell_gets_one_prologue_line_and_keeps_its_text():
    script = build_cell_script("print(1)\n").script
    assert script.splitlines()[1:] == ["print(1)"]


def test_a_bash_cell_joins_errors_to_the_output():
    cell = build_cell_script("echo hi", bash=True)
    assert (cell.interpreter, cell.script) == ("bash", "echo hi\n")


def test_pushed_values_arrive_and_pulled_ones_come_back(tmp_path):
    pushed = pack_variables({"n": 4, "double": lambda x: 2 * x}, ["n", "double"])
    cell = build_cell_script("out = double(n)\nprint(out)\n", pushed=pushed, pull=["out", "nope"])
    done = _run(cell.script, tmp_path)
    first, *carried = done.stdout.splitlines()
    assert (done.returncode, first) == (0, "8")
    assert carried and all(line.startswith(PULL_MARKER) for line in carried)
    from_file = (tmp_path / cell.pull_file).read_bytes()
    chunks = {chunk.index: chunk for chunk in (read_pull_line(KEY, line) for line in carried)}
    assert join_pull_lines(chunks) == from_file
    pulled = unpack_pulled(from_file, KEY)
    assert (pulled.values, pulled.missing, pulled.errors) == ({"out": 8}, ["nope"], {})


def test_a_value_that_cannot_be_pickled_on_the_instance_is_reported(tmp_path):
    cell = build_cell_script("import threading\nlock = threading.Lock()\n", pull=["lock"])
    _run(cell.script, tmp_path)
    pulled = unpack_pulled((tmp_path / cell.pull_file).read_bytes(), KEY)
    assert pulled.values == {}
    assert pulled.errors["lock"].startswith("TypeError")


def test_nothing_is_pulled_when_the_cell_raised(tmp_path):
    cell = build_cell_script("x = 1\nraise SystemExit(2)\n", pull=["x"])
    done = _run(cell.script, tmp_path)
    assert done.returncode == 2
    assert not (tmp_path / cell.pull_file).exists()


def test_names_are_split_deduplicated_and_checked():
    assert parse_names(["a,b", "b", " c "], "--pull") == ["a", "b", "c"]
    with pytest.raises(ValidationError, match="--pull: 'a-b' is not a variable name"):
        parse_names(["a-b"], "--pull")


def test_too_large_a_push_is_refused(monkeypatch):
    with pytest.raises(ValidationError, match="more than 8 MB"):
        pack_variables({"big": b"x" * (MAX_PUSH_BYTES + 1)}, ["big"])


def test_an_unreadable_pull_file_is_one_error():
    with pytest.raises(ValidationError, match="cannot read the pulled values"):
        unpack_pulled(sign(KEY, b"not a pickle") + b"not a pickle", KEY)


class _Payload:
    """Unpickling this runs ``touch`` on the marker path."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unsigned_or_wrongly_signed_data_is_never_unpickled(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Payload(marker))
    for data in (payload, b"\0" * 32 + payload, sign(b"other key" * 4, payload) + payload):
        with pytest.raises(ValidationError, match="not signed with this task's key"):
            unpack_pulled(data, KEY)
    assert not marker.exists()


def test_a_printed_line_that_looks_like_a_pull_line_is_just_a_line(tmp_path):
    forged = base64.b64encode(sign(KEY, b"x") + b"x").decode()
    lines = [
        PULL_MARKER + forged,
        f"{PULL_MARKER}0/1:{'0' * 64}:{forged}",
        f"{PULL_MARKER}0/1:{sign(b'k' * 32, f'0/1:{forged}'.encode()).hex()}:{forged}",
    ]
    assert [read_pull_line(KEY, line) for line in lines] == [None, None, None]
