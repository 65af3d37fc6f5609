"""Shell metacharacters in commands, environment values, secrets, paths and volume mount
paths reach a real sandbox instance byte-exact, and none escapes its quoting.

Every corpus entry tries to create a marker file; after the tasks ran, no marker exists
on this machine (the instances share its ``/tmp``) and every value read back on the
instance (base64-encoded, so nothing is lost in the log) equals what was sent.
"""

from __future__ import annotations

import base64
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from flow_notebook.core.models import TaskConfig, VolumeSpec

pytestmark = [pytest.mark.ssh]

MARKER_DIR = Path("/tmp")


def corpus(marker: str) -> list[str]:
    """Strings that would run ``touch marker`` if any layer lost their quoting."""
    m = f"{MARKER_DIR}/{marker}"
    return [
        f"; touch {m}", f"$(touch {m})", f"`touch {m}`", f"' ; touch {m} ; '",
        f'" ; touch {m} ; "', f"| touch {m}", f"&& touch {m}", f"\ntouch {m}\n",
        f"'\"$(touch {m})\"'", f"\\'; touch {m}; echo \\'", f"${{IFS}}touch${{IFS}}{m}",
        f"$'\\x3b' touch {m}", f"<(touch {m})", f">{m}", "*", "~root", "!!", "# not a comment",
        "-e", "--help", "%s%n%x", "tab\there", "cr\rhere", "héllo ✓ 🚀", " leading and trailing ",
        "$HOME ${PATH} $$ $? $!", "a\\b\\\\c", "'", '"', "\\",
    ]  # fmt: skip


def encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def markers_left(marker: str, *roots: Path) -> list[Path]:
    found = [MARKER_DIR / marker] if (MARKER_DIR / marker).exists() else []
    for root in roots:
        found += [p for p in root.rglob(marker)]
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique marker name; removes the directories the tasks created on this machine."""
    name = f"flow-inject-{secrets.token_hex(6)}"
    yield name
    for leftover in (MARKER_DIR / f"{name}-wd", Path("/mnt") / f"{name}-mnt"):
        shutil.rmtree(leftover, ignore_errors=True)


def test_env_values_secrets_working_dir_and_mount_path_arrive_byte_exact_and_never_run(
    ssh_sandbox, providers, waits, marker
):
    values = corpus(marker)
    provider = providers.provider(ssh_sandbox)
    weird_dir = f"/tmp/{marker}-wd/dir $(touch /tmp/{marker}) ; `id` 'q' \"d\""
    mount = f"/mnt/{marker}-mnt/$(touch /tmp/{marker}) x;y"
    names = [f"V{i}" for i in range(len(values))]
    report = " ".join(f'"${{{name}}}"' for name in names)
    command = (
        f'for v in {report} "${{S0}}"; do printf %s "$v" | base64 -w0; echo; done; '
        'pwd | tr -d "\\n" | base64 -w0; echo; '
        f"[ -d {_single_quoted(mount)} ] && echo mounted"
    )
    config = TaskConfig(
        name="inject-env",
        command=command,
        env=dict(zip(names, values, strict=True)),
        secrets={"S0": values[1]},
        working_dir=weird_dir,
        volumes=[VolumeSpec(name="inject-vol", size_gb=1, mount_path=mount)],
    )

    task = provider.submit_task("a100", config)
    ended = waits(provider, task.task_id, {"completed", "failed"}, timeout=60)
    lines = provider.get_task_logs(task.task_id, tail=1000).split("\n")

    assert ended.exit_code == 0, lines
    assert lines[: len(values) + 1] == [encoded(v) for v in values] + [encoded(values[1])]
    assert lines[len(values) + 1] == encoded(weird_dir)
    assert lines[len(values) + 2] == "mounted"
    assert markers_left(marker, ssh_sandbox.root) == []


def test_argv_commands_arrive_byte_exact_and_never_run(ssh_sandbox, providers, waits, marker):
    values = corpus(marker)
    provider = providers.provider(ssh_sandbox)
    printer = (
        "import base64,sys\nfor a in sys.argv[1:]: print(base64.b64encode(a.encode()).decode())"
    )
    config = TaskConfig(name="inject-argv", command=["python3", "-c", printer, *values])

    task = provider.submit_task("a100", config)
    ended = waits(provider, task.task_id, {"completed", "failed"}, timeout=60)
    lines = provider.get_task_logs(task.task_id, tail=1000).split("\n")

    assert ended.exit_code == 0, lines
    assert lines == [encoded(v) for v in values]
    assert markers_left(marker, ssh_sandbox.root) == []


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
