"""Turning a cell into a task script, with pushed variables in and pulled ones out.

A Python cell runs as a module-level script after one prologue line (so line N of the
cell is line N + 1 of the script). The prologue sends standard error to standard output
(a traceback shows in the cell), makes the working directory importable and, with
``--push``, loads the pushed values (pickled here with cloudpickle, embedded in base64)
into the script's globals. A bash cell gets ``exec 2>&1`` first. With ``--pull``, an
epilogue pickles the named globals into a file in the working directory, which the
kernel fetches through ``IRemoteOperations.retrieve_file`` once the task ends; values
up to 1 MB are also printed in base64 on ``::flow-pull::`` lines, which the live view
hides, for instances that are gone when the task ends. The epilogue runs only when the
cell body finished without an exception.
"""

from __future__ import annotations

import base64
import pickle
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flow_notebook.core.errors import ValidationError

MAX_PUSH_BYTES = 8 * 1024 * 1024
PULL_FILE_PREFIX = ".flow-pull-"
PULL_MARKER = "::flow-pull::"
"""Prefix of the log lines that carry pulled values (hidden from the live view)."""
MAX_PULL_IN_LOG = 1024 * 1024

PYTHON_PROLOGUE = (
    "import os as _flow_os, sys as _flow_sys; _flow_os.dup2(1, 2); "
    "_flow_sys.stdout.reconfigure(line_buffering=True); "
    "_flow_cwd = _flow_os.getcwd(); _flow_sys.path.insert(0, _flow_cwd)"
)
"""One line before every Python cell: errors join the output (so a traceback shows in
the cell), lines are flushed as printed, and the synced code is importable."""
BASH_PROLOGUE = "exec 2>&1\n"
"""One line before every bash cell: errors join the output."""
_EPILOGUE = """

def _flow_save_pulled(names, path):
    import os
    import pickle
    try:
        import cloudpickle as dumper
    except ImportError:
        dumper = pickle
    found = globals()
    values, errors = {{}}, {{}}
    for name in names:
        if name not in found:
            continue
        try:
            values[name] = dumper.dumps(found[name])
        except Exception as exc:
            errors[name] = f"{{type(exc).__name__}}: {{exc}}"
    missing = [name for name in names if name not in found]
    result = {{"values": values, "missing": missing, "errors": errors}}
    data = pickle.dumps(result)
    with open(path + ".part", "wb") as handle:
        handle.write(data)
    os.replace(path + ".part", path)
    if len(data) <= {log_limit}:
        # Also in the log, for instances that are gone by the time the kernel asks.
        import base64
        import sys
        text = base64.b64encode(data).decode("ascii")
        for start in range(0, len(text), 4000):
            print({marker!r} + text[start:start + 4000])
        sys.stdout.flush()


_flow_save_pulled({names!r}, _flow_os.path.join(_flow_cwd, {file!r}))
"""


@dataclass(frozen=True)
class CellScript:
    """A cell ready to submit.

    Attributes:
        script: The script body.
        interpreter: ``python`` or ``bash``.
        pull_file: File (relative to the working directory) the pulled values go to.
    """

    script: str
    interpreter: str
    pull_file: str | None


@dataclass(frozen=True)
class Pulled:
    """What came back from a task's ``--pull``.

    Attributes:
        values: Name to value, for the names that could be brought back.
        missing: Names the cell never defined.
        errors: Name to a one-line reason it could not be pickled on the instance.
    """

    values: dict[str, Any]
    missing: list[str]
    errors: dict[str, str]


def parse_names(items: list[str], option: str) -> list[str]:
    """Splits repeatable ``a,b`` options into distinct identifiers, in order.

    Raises:
        ValidationError: A name is not a Python identifier.
    """
    names: list[str] = []
    for item in items:
        for name in (part.strip() for part in item.split(",")):
            if not name.isidentifier():
                raise ValidationError(f"{option}: {name!r} is not a variable name")
            if name not in names:
                names.append(name)
    return names


def pack_variables(user_ns: Mapping[str, Any], names: list[str]) -> bytes:
    """Pickles the named notebook variables with cloudpickle.

    Raises:
        ValidationError: A name is not defined, a value cannot be pickled, or the
            result is larger than ``MAX_PUSH_BYTES``.
    """
    import cloudpickle

    missing = [name for name in names if name not in user_ns]
    if missing:
        raise ValidationError(f"--push: no variable named {', '.join(missing)} in the notebook")
    values: dict[str, bytes] = {}
    for name in names:
        try:
            values[name] = cloudpickle.dumps(user_ns[name])
        except Exception as exc:  # Pickling can fail with any exception type.
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise ValidationError(f"--push: cannot pickle {name} ({reason})") from None
    blob = pickle.dumps(values)
    if len(blob) > MAX_PUSH_BYTES:
        raise ValidationError(
            f"--push: the values take {len(blob) // 1024} KB, more than "
            f"{MAX_PUSH_BYTES // (1024 * 1024)} MB",
            suggestion="put large data on a volume or in the code directory",
        )
    return blob


def build_cell_script(
    body: str, *, bash: bool = False, pushed: bytes | None = None, pull: list[str] | None = None
) -> CellScript:
    """Returns the script that runs ``body``.

    Args:
        body: The cell's text.
        bash: Run it with bash instead of Python.
        pushed: ``pack_variables`` output to load first.
        pull: Names of variables to save for the kernel at the end.

    Raises:
        ValidationError: An empty cell, or push/pull asked of a bash cell.
    """
    if not body.strip():
        raise ValidationError("the cell is empty: write the code to run below %%flow run")
    if bash:
        if pushed is not None or pull:
            raise ValidationError("--push and --pull need a Python cell, not --bash")
        return CellScript(BASH_PROLOGUE + body.rstrip("\n") + "\n", "bash", None)
    prologue = PYTHON_PROLOGUE
    if pushed is not None:
        # Each value was pickled on its own, so one that needs cloudpickle fails alone.
        blob = base64.b64encode(pushed).decode("ascii")
        prologue += (
            "; import base64 as _flow_b64, pickle as _flow_pickle; "
            "globals().update({_k: _flow_pickle.loads(_v) for _k, _v in "
            f"_flow_pickle.loads(_flow_b64.b64decode({blob!r})).items()}})"
        )
    script = prologue + "\n" + body.rstrip("\n") + "\n"
    pull_file = None
    if pull:
        pull_file = f"{PULL_FILE_PREFIX}{secrets.token_hex(6)}.pkl"
        script += _EPILOGUE.format(
            names=list(pull), file=pull_file, marker=PULL_MARKER, log_limit=MAX_PULL_IN_LOG
        )
    return CellScript(script, "python", pull_file)


def unpack_pulled(data: bytes) -> Pulled:
    """Reads the file the epilogue wrote.

    Raises:
        ValidationError: The file is not what the epilogue writes.
    """
    try:
        raw = pickle.loads(data)
        values = {name: pickle.loads(blob) for name, blob in raw["values"].items()}
        return Pulled(values, list(raw["missing"]), dict(raw["errors"]))
    except Exception as exc:  # Unpickling can fail with any exception type.
        raise ValidationError(f"cannot read the pulled values: {type(exc).__name__}") from exc
