"""Builds the bash startup script a Mithril bid boots each instance with.

The startup script itself only writes a runner script (mode 0700, it holds the
secrets) and starts it detached with ``setsid nohup``, so the platform's startup
step returns at once while the task keeps running. The runner, in order:

1. clears the markers of an earlier run (an instance may be restarted),
2. exports ``TaskConfig.env`` and the node variables; secrets never appear in the
   script: the runner waits (bounded) for the file the provider writes over SSH after
   boot (``render_secrets``, mode 0600) and exports what it holds,
3. on multi-instance tasks waits (bounded) for ``RANK_FILE``, which the provider
   uploads over SSH once every instance has a private IP, because one bid script
   cannot carry a different rank per instance,
4. bind-mounts ``VOLUME_ROOT/<volume_fid>`` onto each mount path (the sandbox
   exposes every attached volume there),
5. unpacks an embedded code archive, or waits (bounded) for ``CODE_READY_MARKER``,
6. with an image, pulls it (``runtime/container.py``) and runs the command in it,
   else runs the command on the instance, in the working directory, appending stdout and stderr to
   their logs, then writes the exit code atomically and creates ``DONE_MARKER``.

A setup failure also writes an exit code (1) and ``DONE_MARKER``, with the reason
in the stderr log, so the provider never waits on a task that cannot start. Every
user-provided string is quoted with ``shlex.quote`` or carried as base64.
"""

from __future__ import annotations

import base64
import re
import shlex
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.runtime.container import ContainerRun, in_image_command
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout
from flow_notebook.providers.mithril.runtime.watch_section import TaskWatch, watch_section

_FID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
DEFAULT_CODE_WAIT_SECONDS = 1800
DEFAULT_RANK_WAIT_SECONDS = 900
DEFAULT_VOLUME_WAIT_SECONDS = 120
DEFAULT_SECRETS_WAIT_SECONDS = 1800


@dataclass(frozen=True)
class VolumeMount:
    """A volume to bind onto a path of the instance.

    Attributes:
        volume_fid: Platform id of the volume (``vol_...``).
        mount_path: Absolute path where the task sees it.
    """

    volume_fid: str
    mount_path: str


@dataclass(frozen=True)
class CodeFetch:
    """How the task's code reaches the working directory.

    Attributes:
        mode: ``none``, ``archive`` (embedded tar.gz) or ``wait`` (uploaded over SSH).
        archive: The tar.gz bytes for ``archive``.
        timeout_seconds: How long ``wait`` waits for ``CODE_READY_MARKER``.
    """

    mode: str = "none"
    archive: bytes = b""
    timeout_seconds: int = DEFAULT_CODE_WAIT_SECONDS

    @classmethod
    def none(cls) -> CodeFetch:
        """No code is sent."""
        return cls()

    @classmethod
    def embedded(cls, archive: bytes) -> CodeFetch:
        """The tar.gz ``archive`` travels inside the script."""
        return cls(mode="archive", archive=archive)

    @classmethod
    def wait_for_upload(cls, timeout_seconds: int = DEFAULT_CODE_WAIT_SECONDS) -> CodeFetch:
        """The code is uploaded over SSH; the task waits for ``CODE_READY_MARKER``."""
        return cls(mode="wait", timeout_seconds=timeout_seconds)


class StartupScriptBuilder:
    """Turns a ``TaskConfig`` into the startup script of its bid.

    Args:
        layout: Where instance paths live; the default is the real instance layout.
        detach: Start the runner detached (on instances) or run it in the foreground.
        poll_seconds: Interval of the bounded waits for files.
        rank_wait_seconds: How long a multi-instance task waits for its rank file.
        volume_wait_seconds: How long to wait for an attached volume to appear.
        secrets_wait_seconds: How long a task with secrets waits for them to arrive.
    """

    def __init__(
        self,
        layout: RuntimeLayout | None = None,
        *,
        detach: bool = True,
        poll_seconds: float = 1.0,
        rank_wait_seconds: int = DEFAULT_RANK_WAIT_SECONDS,
        volume_wait_seconds: int = DEFAULT_VOLUME_WAIT_SECONDS,
        secrets_wait_seconds: int = DEFAULT_SECRETS_WAIT_SECONDS,
    ) -> None:
        self._layout = layout or RuntimeLayout()
        self._detach = detach
        self._poll = poll_seconds
        self._rank_wait = rank_wait_seconds
        self._volume_wait = volume_wait_seconds
        self._secrets_wait = secrets_wait_seconds

    def build(
        self,
        config: TaskConfig,
        *,
        volumes: Sequence[VolumeMount] = (),
        code: CodeFetch | None = None,
        watch: TaskWatch | None = None,
    ) -> str:
        """Returns the startup script for ``config``.

        Args:
            config: The task.
            volumes: Volumes to bind onto their mount paths.
            code: How the code arrives; no code by default.
            watch: Installs the on-instance watcher (ends the bid when the command
                ends or its limit passes); without it the command runs unwatched.

        Returns:
            A bash script.

        Raises:
            ValidationError: A volume id or mount path that cannot be used safely.
        """
        runner = "\n".join(
            [
                self._runner_prelude(),
                self._environment(config),
                self._node_section(config.num_instances),
                self._volume_section(volumes),
                self._code_section(code or CodeFetch.none(), config.working_dir),
                self._command_section(config, volumes, watched=watch is not None),
            ]
        )
        watcher = watch_section(self._layout, watch, config.num_instances) if watch else ""
        return self._launcher(runner, watcher)

    # --- the startup script proper ----------------------------------------------------

    def _launcher(self, runner: str, watcher: str = "") -> str:
        lay, q = self._layout, shlex.quote
        delimiter = "FLOW_RUNNER_EOF"
        while delimiter in runner:
            delimiter += "_X"
        start = (
            f"setsid nohup bash {q(lay.runner_script)} >>{q(lay.runner_log)} 2>&1 </dev/null &\n"
            'echo "flow: task runner started"'
            if self._detach
            else f"exec bash {q(lay.runner_script)}"
        )
        return (
            "#!/bin/bash\nset -euo pipefail\n"
            f"{lay.grant_command(lay.log_dir)}\n"
            # The runner holds the secrets: only its owner may read it.
            f"(umask 077 && cat >{q(lay.runner_script)}) <<'{delimiter}'\n"
            f"{runner}\n{delimiter}\n"
            f"chmod 700 {q(lay.runner_script)}\n{watcher}{start}\n"
        )

    # --- sections of the runner ------------------------------------------------------

    def _runner_prelude(self) -> str:
        lay, q = self._layout, shlex.quote
        return textwrap.dedent(
            f"""\
            #!/bin/bash
            set -uo pipefail
            rm -f {q(lay.exit_code_file)} {q(lay.done_marker)} {q(lay.started_marker)}
            echo "$$" >{q(lay.runner_pid_file)}
            flow_finish() {{
              printf '%s\\n' "$1" >{q(lay.exit_code_file)}.tmp.$$
              mv -f {q(lay.exit_code_file)}.tmp.$$ {q(lay.exit_code_file)}
              touch {q(lay.done_marker)}
              rm -f {q(lay.phase_file)}
            }}
            flow_fail() {{
              printf 'flow: %s\\n' "$1" >>{q(lay.stderr_log)}
              flow_finish 1
              exit 1
            }}
            flow_wait_for() {{
              local deadline=$((SECONDS + $2))
              while [ ! -e "$1" ]; do
                [ "$SECONDS" -lt "$deadline" ] || return 1
                sleep {self._poll}
              done
            }}"""
        )

    def _environment(self, config: TaskConfig) -> str:
        q = shlex.quote
        lines = [f"export FLOW_TASK_NAME={q(config.name)}"]
        lines += [f"export {key}={q(value)}" for key, value in config.env.items()]
        if config.secrets:
            # Secrets never travel in the bid (every project member can read its
            # startup script): the provider writes them over SSH after boot.
            secrets, wait = q(self._layout.secrets_file), self._secrets_wait
            lines += [
                f"flow_wait_for {secrets} {wait} || flow_fail"
                f" \"the task's secrets did not arrive within {wait}s (they are sent over SSH"
                ' by the kernel that submitted it)"',
                f"set -a; . {secrets}; set +a",
            ]
        return "\n".join(lines)

    def _node_section(self, num_nodes: int) -> str:
        record = f'echo "$FLOW_NODE_RANK" >{shlex.quote(self._layout.node_rank_file)}'
        if num_nodes == 1:
            return (
                "export FLOW_NODE_RANK=0 FLOW_NUM_NODES=1 FLOW_MAIN_IP=127.0.0.1\n"
                f'export MASTER_ADDR="$FLOW_MAIN_IP"\n{record}'
            )
        rank_file, wait = shlex.quote(self._layout.rank_file), self._rank_wait
        return (
            textwrap.dedent(
                f"""\
            export FLOW_NUM_NODES={num_nodes}
            flow_wait_for {rank_file} {wait} || flow_fail "no rank file after {wait}s"
            while IFS='=' read -r key value; do
              case "$key" in
                FLOW_NODE_RANK|FLOW_NUM_NODES|FLOW_MAIN_IP) export "$key=$value" ;;
              esac
            done <{rank_file}
            case "${{FLOW_NODE_RANK:-}}" in
              ''|*[!0-9]*) flow_fail "rank file has no valid FLOW_NODE_RANK" ;;
            esac
            [ -n "${{FLOW_MAIN_IP:-}}" ] || flow_fail "rank file has no FLOW_MAIN_IP"
            export MASTER_ADDR="$FLOW_MAIN_IP"
            """
            )
            + record
        )

    def _volume_section(self, volumes: Sequence[VolumeMount]) -> str:
        q, lines = shlex.quote, []
        for volume in volumes:
            _check_volume(volume)
            source = q(f"{self._layout.volume_root}/{volume.volume_fid}")
            target = q(self._layout.at(volume.mount_path))
            why = q(f"volume {volume.volume_fid} did not appear")
            lines.append(f"flow_wait_for {source} {self._volume_wait} || flow_fail {why}")
            lines.append(f"mkdir -p {target} || flow_fail {q('cannot create mount path')}")
            lines.append(
                f"mountpoint -q {target} || mount --bind {source} {target}"
                f" || flow_fail {q(f'cannot mount volume {volume.volume_fid}')}"
            )
        return "\n".join(lines)

    def _code_section(self, code: CodeFetch, working_dir: str) -> str:
        q = shlex.quote
        workdir = q(self._layout.at(working_dir))
        if code.mode == "none":
            return ""
        if code.mode == "wait":
            marker = q(self._layout.code_ready_marker)
            why = q(f"code did not arrive within {code.timeout_seconds}s")
            grant = self._layout.grant_command(self._layout.at(working_dir))
            return (
                f"{grant} || flow_fail 'cannot create working directory'\n"
                f"flow_wait_for {marker} {code.timeout_seconds} || flow_fail {why}"
            )
        if code.mode == "archive":
            encoded = base64.encodebytes(code.archive).decode("ascii").rstrip("\n")
            return (
                f"mkdir -p {workdir} || flow_fail 'cannot create working directory'\n"
                f"base64 -d <<'FLOW_CODE_EOF' | tar -xzf - -C {workdir}"
                " || flow_fail 'cannot unpack the code archive'\n"
                f"{encoded}\nFLOW_CODE_EOF"
            )
        raise ValidationError(f"unknown code fetch mode {code.mode!r}")

    def _command_section(
        self, config: TaskConfig, volumes: Sequence[VolumeMount], *, watched: bool
    ) -> str:
        lay, q = self._layout, shlex.quote
        command = self._command(config)
        lines = [
            f"mkdir -p {q(lay.at(config.working_dir))} || flow_fail 'cannot create working dir'",
            f"cd {q(lay.at(config.working_dir))} || flow_fail 'cannot enter working dir'",
        ]
        if config.script is not None:
            encoded = base64.b64encode(config.script.encode("utf-8")).decode("ascii")
            lines.append(f"printf '%s' {q(encoded)} | base64 -d >{q(lay.user_script)}")
        if config.image:
            container = ContainerRun(lay, config, [volume.mount_path for volume in volumes])
            lines.append(container.pull())
            command = container.wrap(in_image_command(config, lay.user_script))
        timeout = ""
        # A watched task's limit is enforced by the watcher (it survives reboots).
        if config.max_run_time_hours and not watched:
            timeout = f"timeout -k 60 {int(config.max_run_time_hours * 3600)} "
        lines += [
            f"touch {q(lay.started_marker)}",
            f"{timeout}{command} >>{q(lay.stdout_log)} 2>>{q(lay.stderr_log)} </dev/null",
            "flow_rc=$?",
            'flow_finish "$flow_rc"',
            'exit "$flow_rc"',
        ]
        return "\n".join(lines)

    def _command(self, config: TaskConfig) -> str:
        q = shlex.quote
        if config.script is not None:
            script = q(self._layout.user_script)
            if config.interpreter == "bash":
                return f"bash {script}"
            return f'"$(command -v python3 || command -v python)" {script}'
        if isinstance(config.command, str):
            return f"bash -c {q(config.command)}"
        return shlex.join(config.command or [])


def _check_volume(volume: VolumeMount) -> None:
    if not _FID_RE.match(volume.volume_fid) or volume.volume_fid in (".", ".."):
        raise ValidationError(f"not a volume id: {volume.volume_fid!r}", field="volumes")
    path = volume.mount_path
    if not path.startswith("/") or "\x00" in path or ".." in path.split("/"):
        raise ValidationError(f"mount path must be absolute without '..': {path!r}")


def render_secrets(config: TaskConfig) -> str:
    """Returns the body of the secrets file: one ``NAME='value'`` line per secret."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in config.secret_values().items())
