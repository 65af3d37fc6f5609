"""Turning a cell into a task script, with pushed variables in and pulled ones out.

A Python cell runs as a module-level script after one prologue line (so line N of the
cell is line N + 1 of the script). The prologue flushes standard output at each line,
makes the working directory importable and, with ``--push``, loads the pushed values
(pickled here with cloudpickle, embedded in base64) into the script's globals. A bash
cell runs as it is. Standard error stays standard error: the view shows it as such.

With ``--pull``, an epilogue pickles the named globals and signs them with HMAC-SHA256
under the task's pull key (``pull_keys``; it arrives as the secret ``FLOW_PULL_KEY``,
which the prologue takes out of the environment). The signed data goes to a file in
the working directory, which the kernel fetches through
``IRemoteOperations.retrieve_file`` once the task ends; up to 1 MB of it is also
printed in base64 on ``::flow-pull::`` lines, each line signed on its own, for
instances that are gone when the task ends. The kernel unpickles nothing whose
signature does not check: a line the task printed that merely looks like a pull line
is shown as any other line. The epilogue runs only when the cell body finished
without an exception.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import pickle
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flow_notebook.core.errors import ValidationError
from flow_notebook.notebook.pull_keys import sign

MAX_PUSH_BYTES = 8 * 1024 * 1024
PULL_FILE_PREFIX = ".flow-pull-"
PULL_MARKER = "::flow-pull::"
"""Prefix of the signed log lines that carry pulled values (hidden from the live view)."""
MAX_PULL_IN_LOG = 1024 * 1024
PULL_KEY_ENV = "FLOW_PULL_KEY"
"""Secret environment variable carrying the task's pull key (hex)."""
_TAG_BYTES = 32
_PULL_KEY_PROLOGUE = f"; _flow_pull_key = _flow_os.environ.pop({PULL_KEY_ENV!r}, '')"

PYTHON_PROLOGUE = (
    "import os as _flow_os, sys as _flow_sys; "
    "_flow_sys.stdout.reconfigure(line_buffering=True); "
    "_flow_cwd = _flow_os.getcwd(); _flow_sys.path.insert(0, _flow_cwd)"
)
"""One line before every Python cell: lines are flushed as printed (so stdout and
stderr stay in order), and the synced code is importable."""
_EPILOGUE = """

def _flow_save_pulled(names, path, key):
    import base64
    import hashlib
    import hmac
    import os
    import pickle
    import sys
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
    data = pickle.dumps({{"values": values, "missing": missing, "errors": errors}})
    # Signed with the kernel's key for this task: printed text cannot pass for it.
    signed = hmac.new(key, data, hashlib.sha256).digest() + data
    with open(path + ".part", "wb") as handle:
        handle.write(signed)
    os.replace(path + ".part", path)
    if len(signed) <= {log_limit}:
        # Also in the log, for instances that are gone by the time the kernel asks.
        text = base64.b64encode(signed).decode("ascii")
        chunks = [text[start:start + 4000] for start in range(0, len(text), 4000)]
        for index, chunk in enumerate(chunks):
            head = f"{{index}}/{{len(chunks)}}"
            tag = hmac.new(key, f"{{head}}:{{chunk}}".encode(), hashlib.sha256).hexdigest()
            print(f"{marker}{{head}}:{{tag}}:{{chunk}}")
        sys.stdout.flush()


_flow_save_pulled(
    {names!r}, _flow_os.path.join(_flow_cwd, {file!r}), bytes.fromhex(_flow_pull_key)
)
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
        ValidationError: An empty cell, a Python cell that does not compile, or
            push/pull asked of a bash cell.
    """
    if not body.strip():
        raise ValidationError("the cell is empty: write the code to run below %%flow run")
    if bash:
        if pushed is not None or pull:
            raise ValidationError("--push and --pull need a Python cell, not --bash")
        return CellScript(body.rstrip("\n") + "\n", "bash", None)
    check_syntax(body)
    prologue = PYTHON_PROLOGUE
    if pushed is not None:
        # Each value was pickled on its own, so one that needs cloudpickle fails alone.
        blob = base64.b64encode(pushed).decode("ascii")
        prologue += (
            "; import base64 as _flow_b64, pickle as _flow_pickle; "
            "globals().update({_k: _flow_pickle.loads(_v) for _k, _v in "
            f"_flow_pickle.loads(_flow_b64.b64decode({blob!r})).items()}})"
        )
    if pull:
        prologue += _PULL_KEY_PROLOGUE
    script = prologue + "\n" + body.rstrip("\n") + "\n"
    pull_file = None
    if pull:
        pull_file = f"{PULL_FILE_PREFIX}{secrets.token_hex(6)}.pkl"
        script += _EPILOGUE.format(
            names=list(pull), file=pull_file, marker=PULL_MARKER, log_limit=MAX_PULL_IN_LOG
        )
    return CellScript(script, "python", pull_file)


def check_syntax(body: str) -> None:
    """Compiles a Python cell here, so a syntax error costs nothing remote.

    Raises:
        ValidationError: ``line N: message: the line``, numbered as in the cell.
    """
    try:
        compile(body, "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        text = f": {exc.text.strip()[:120]}" if exc.text and exc.text.strip() else ""
        raise ValidationError(
            f"the cell does not compile ({where}{exc.msg}{text}); nothing was submitted"
        ) from None
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise ValidationError(f"the cell does not compile ({exc}); nothing was submitted") from None


@dataclass(frozen=True)
class PullLine:
    """One signed ``::flow-pull::`` line: chunk ``index`` of ``total``."""

    index: int
    total: int
    chunk: str


def read_pull_line(key: bytes, line: str) -> PullLine | None:
    """Returns the chunk a pull line carries, or ``None`` when its signature does not check.

    A line the task printed itself (whatever it says) is ``None``: it is just a line.
    """
    if not line.startswith(PULL_MARKER):
        return None
    head, _, rest = line[len(PULL_MARKER) :].partition(":")
    tag, _, chunk = rest.partition(":")
    expected = sign(key, f"{head}:{chunk}".encode()).hex()
    if not hmac.compare_digest(tag.encode(), expected.encode()):
        return None
    index, _, total = head.partition("/")
    return PullLine(int(index), int(total), chunk)


def join_pull_lines(lines: Mapping[int, PullLine]) -> bytes | None:
    """Returns the signed data the lines carry, or ``None`` when some are missing."""
    totals = {line.total for line in lines.values()}
    if len(totals) != 1 or set(lines) != set(range(totals.pop())):
        return None
    try:
        return base64.b64decode("".join(lines[index].chunk for index in sorted(lines)))
    except binascii.Error:
        return None


def unpack_pulled(data: bytes, key: bytes) -> Pulled:
    """Checks the signature of what the epilogue saved, then reads it.

    Raises:
        ValidationError: The data is not signed with ``key`` (nothing is unpickled),
            or is not what the epilogue writes.
    """
    tag, body = data[:_TAG_BYTES], data[_TAG_BYTES:]
    if len(tag) < _TAG_BYTES or not hmac.compare_digest(tag, sign(key, body)):
        raise ValidationError(
            "the pulled values are not signed with this task's key; nothing was read"
        )
    try:
        raw = pickle.loads(body)
        values = {name: pickle.loads(blob) for name, blob in raw["values"].items()}
        return Pulled(values, list(raw["missing"]), dict(raw["errors"]))
    except Exception as exc:  # Unpickling can fail with any exception type.
        raise ValidationError(f"cannot read the pulled values: {type(exc).__name__}") from exc
