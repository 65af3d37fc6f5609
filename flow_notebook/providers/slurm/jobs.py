"""Jobs on the cluster: submit with sbatch, cancel with scancel, read their state.

A job's state comes from ``squeue`` while it is queued or running, then from
``scontrol show job`` until the controller forgets it (``MinJobAge``), then from
``sacct`` when the cluster keeps accounting, else from the job completion log
(``jobcomp/filetxt``) when readable, else from the exit code the batch script wrote.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from flow_notebook.core.errors import ValidationError
from flow_notebook.providers.mithril.remote.errors import RemoteCommandError
from flow_notebook.providers.slurm.login import ILogin
from flow_notebook.providers.slurm.states import exit_code

_PAIR = re.compile(r"(\w+)=(\S*)")
_SQUEUE_FORMAT = "%i|%T|%r|%N"
_CALLER = "slurm-jobs"


@dataclass(frozen=True)
class JobState:
    """What Slurm says about one job.

    Attributes:
        job_id: The job id.
        state: Slurm's state (``PENDING``, ``RUNNING``, ``TIMEOUT`` ...).
        reason: Slurm's reason (why pending, or why it ended), if any.
        exit_code: Exit code, once the job ended and Slurm knows it.
        nodes: The nodes it runs or ran on (Slurm's node list).
        start_time: Start time as Slurm prints it, if started.
        end_time: End time as Slurm prints it, if ended.
    """

    job_id: str
    state: str
    reason: str | None = None
    exit_code: int | None = None
    nodes: str = ""
    start_time: str | None = None
    end_time: str | None = None


class JobService:
    """Runs Slurm's commands on the login node.

    Args:
        login: Runs commands on the login node.
        timeout: Seconds allowed for one command.
    """

    def __init__(self, login: ILogin, timeout: int = 60) -> None:
        self._login = login
        self._timeout = timeout
        self._jobcomp: str | None = None

    def submit(self, script_path: str, environment: Mapping[str, str]) -> str:
        """Submits the batch script with ``environment`` in the job's environment.

        The variables travel on the command's standard input (NUL-separated
        ``KEY=value``), so they are neither on a command line nor in the script.

        Returns:
            The job id.

        Raises:
            ValidationError: Slurm refused the job (its reason, as one line).
        """
        command = (
            "while IFS= read -r -d '' kv; do export \"$kv\"; done;"
            f" exec sbatch --parsable {shlex.quote(script_path)}"
        )
        stdin = b"".join(f"{key}={value}\0".encode() for key, value in environment.items())
        try:
            out = self._login.execute_command(_CALLER, command, self._timeout, stdin=stdin)
        except RemoteCommandError as exc:
            raise ValidationError(f"Slurm refused the job: {refusal(exc.stderr_tail)}") from None
        return out.strip().split(";")[0]

    def cancel(self, job_id: str) -> None:
        """Asks Slurm to cancel the job (all its steps)."""
        self._run(f"scancel {shlex.quote(job_id)}")

    def queued(self) -> dict[str, JobState]:
        """Returns the caller's jobs that are queued or running, by job id."""
        out = self._run(f"squeue -h --me -o {shlex.quote(_SQUEUE_FORMAT)}")
        found = {}
        for line in out.splitlines():
            job_id, state, reason, nodes = (line.split("|") + ["", "", ""])[:4]
            found[job_id] = JobState(job_id, state, reason or None, nodes=nodes)
        return found

    def ended(self, job_id: str) -> JobState | None:
        """Returns the final record of a job that left the queue, or ``None`` if unknown."""
        return self._from_scontrol(job_id) or self._from_sacct(job_id) or self._from_jobcomp(job_id)

    def _from_scontrol(self, job_id: str) -> JobState | None:
        try:
            out = self._run(f"scontrol -o show job {shlex.quote(job_id)}")
        except RemoteCommandError:
            return None  # Forgotten by the controller (MinJobAge passed).
        fields = dict(_PAIR.findall(out))
        if "JobState" not in fields:
            return None
        return _state(job_id, fields)

    def _from_sacct(self, job_id: str) -> JobState | None:
        command = f"sacct -n -P -X -j {shlex.quote(job_id)} -o State,ExitCode,NodeList,Start,End"
        try:
            out = self._run(command).strip()
        except RemoteCommandError:
            return None  # No accounting on this cluster.
        if not out:
            return None
        state, code, nodes, start, end = (out.splitlines()[0].split("|") + [""] * 4)[:5]
        return JobState(job_id, state, None, exit_code(code), nodes, start or None, end or None)

    def _from_jobcomp(self, job_id: str) -> JobState | None:
        path = self._jobcomp_path()
        if not path:
            return None
        try:
            out = self._run(f"grep -h 'JobId={job_id} ' {shlex.quote(path)} | tail -n 1")
        except RemoteCommandError:
            return None
        fields = dict(_PAIR.findall(out))
        return _state(job_id, fields) if "JobState" in fields else None

    def _jobcomp_path(self) -> str:
        if self._jobcomp is None:
            try:
                out = self._run("scontrol show config")
            except RemoteCommandError:
                out = ""
            config = dict(re.findall(r"^(\w+)\s*=\s*(.*)$", out, re.MULTILINE))
            filetxt = config.get("JobCompType", "").strip() == "jobcomp/filetxt"
            self._jobcomp = config.get("JobCompLoc", "").strip() if filetxt else ""
        return self._jobcomp

    def _run(self, command: str) -> str:
        return self._login.execute_command(_CALLER, command, self._timeout)


def _state(job_id: str, fields: dict[str, str]) -> JobState:
    return JobState(
        job_id=job_id,
        state=fields["JobState"],
        reason=fields.get("Reason") or None,
        exit_code=exit_code(fields.get("ExitCode", "")),
        nodes=fields.get("NodeList", "") if fields.get("NodeList") != "(null)" else "",
        start_time=_time(fields.get("StartTime")),
        end_time=_time(fields.get("EndTime")),
    )


def _time(text: str | None) -> str | None:
    return text if text and text not in ("Unknown", "None", "(null)") else None


def refusal(stderr_tail: str) -> str:
    """Returns Slurm's refusal as one line: the last ``error:`` message, without prefixes."""
    messages = [part.strip() for part in stderr_tail.split("|") if "error:" in part]
    last = (messages or [stderr_tail.strip()])[-1]
    return last.split("error:")[-1].strip() or "no reason given"
