"""Pytest fixtures that run the sandbox as a subprocess (``pytest_plugins`` entry).

- ``mithril_sandbox`` (session): one shared sandbox.
- ``fresh_sandbox`` (function): a sandbox of its own, for tests that change the
  market, quotas or faults.
- ``require_ssh``: fails (or, with ``FLOW_ALLOW_NO_SSH=1``, skips) when real
  instances cannot run here.

Teardown sends SIGTERM, waits, and asserts that no process of the sandbox's
instances survived. A process belongs to a sandbox when it inherited that sandbox's
``FLOW_SANDBOX_ID`` (a random id set only in its environment), or runs in the PID
namespace of a child of such a process (an instance's programs start with a fresh
environment). PIDs and namespace ids are reused, by other sandboxes too; an
inherited id is not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flow_notebook.sandbox.hostprep import missing_prerequisites
from flow_notebook.sandbox.procs import children, pid_namespace

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
A100 = "it_RrgkIZz6c9BZu5gi"
"""Mithril's a100-80gb.sxm.1x (offered in us-central1-a, us-central1-b, eu-central1-a)."""
REGION = "us-central1-a"
SANDBOX_ID_VARIABLE = "FLOW_SANDBOX_ID"


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Returns the first truthy value of ``check()``.

    Raises:
        AssertionError: When none came within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        time.sleep(interval)


SSH_OPTIONS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
)


def ssh_run(
    destination: str, key_path: Path, command: str, user: str = "root"
) -> subprocess.CompletedProcess[str]:
    """Runs ``command`` on an instance (``host:port``) over real ssh; returns the result."""
    host, port = destination.rsplit(":", 1)
    return subprocess.run(
        ["ssh", "-p", port, "-i", str(key_path), *SSH_OPTIONS, f"{user}@{host}", command],
        capture_output=True,
        text=True,
        timeout=30,
    )


def check_response(response: Any, method: str, route: str) -> Any:
    """Asserts that a ``requests`` response's body matches the spec; returns the JSON body.

    The check is ``validation.response_problems``: a documented status must match its
    schema, an undocumented error status must be ``{"detail": ...}``.

    Args:
        response: The answer to check.
        method: HTTP method of the operation (``"GET"``).
        route: The request's path, or its template as the spec spells it
            (``"/v2/reservation/{reservation_fid}"``).
    """
    from flow_notebook.sandbox.validation import response_problems, spec_index

    problems = response_problems(
        spec_index(), method, route, response.status_code, response.content
    )
    assert not problems, problems
    return response.json() if response.content.strip() else None


def bid_body(
    project: str,
    *,
    price: str = "$10.00",
    quantity: int = 1,
    name: str = "job",
    instance_type: str = A100,
    region: str = REGION,
    ssh_keys: list[str] | None = None,
    volumes: list[str] | None = None,
    script: str | None = None,
) -> dict[str, Any]:
    """Returns a ``CreateBidRequest`` body (one 1xA100 at $10.00 unless told otherwise)."""
    spec: dict[str, Any] = {"volumes": volumes or [], "ssh_keys": ssh_keys or []}
    if script is not None:
        spec["startup_script"] = script
    return {
        "project": project,
        "region": region,
        "instance_type": instance_type,
        "limit_price": price,
        "instance_quantity": quantity,
        "name": name,
        "launch_specification": spec,
    }


@dataclass
class SandboxHandle:
    """A running sandbox.

    Attributes:
        url: Base URL (``MITHRIL_API_URL``).
        api_key: Bearer key (``MITHRIL_API_KEY``).
        project: Default project fid (``MITHRIL_PROJECT``).
        root: State directory.
        process: The sandbox process.
        sandbox_id: The ``FLOW_SANDBOX_ID`` its processes inherit.
    """

    url: str
    api_key: str
    project: str
    root: Path
    process: subprocess.Popen[str]
    sandbox_id: str = ""

    @property
    def env(self) -> dict[str, str]:
        """The three variables the sandbox printed."""
        return {
            "MITHRIL_API_URL": self.url,
            "MITHRIL_API_KEY": self.api_key,
            "MITHRIL_PROJECT": self.project,
        }

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Sends an authenticated request to ``path`` and returns the ``requests`` response."""
        import requests

        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Calls a ``/_sandbox/`` control and returns its JSON answer."""
        import requests

        response = requests.request(method, f"{self.url}/_sandbox{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def faults(self, pattern: str = "* /v2/*", **rule: Any) -> list[dict[str, Any]]:
        """Adds a fault rule (see ``FaultRule``); returns all rules."""
        rules: list[dict[str, Any]] = self.control(
            "POST", "/faults", json={"pattern": pattern, **rule}
        )
        return rules

    def reset_faults(self, seed: int | None = None) -> None:
        """Removes every fault rule."""
        self.control("DELETE", "/faults", params={} if seed is None else {"seed": seed})

    def stats(self) -> dict[str, Any]:
        """Returns request counts per route and status."""
        stats: dict[str, Any] = self.control("GET", "/stats")
        return stats

    def set_price(self, instance_type: str, region: str, price: str) -> None:
        """Sets the spot price (a dollar string) of one auction."""
        self.control(
            "POST",
            "/market",
            json={"instance_type": instance_type, "region": region, "price": price},
        )

    def set_capacity(self, instance_type: str, region: str, capacity: int) -> None:
        """Sets the capacity of one auction."""
        self.control(
            "POST",
            "/market",
            json={"instance_type": instance_type, "region": region, "capacity": capacity},
        )

    def preempt(self, bid_fid: str) -> None:
        """Preempts an allocated bid now."""
        self.control("POST", f"/bids/{bid_fid}/preempt")

    def seed(self, count: int, status: str = "Terminated", project: str | None = None) -> int:
        """Adds ``count`` historical bids; returns how many."""
        body = {"count": count, "status": status, "project": project}
        created: int = self.control("POST", "/seed", json=body)["created"]
        return created

    def add_user(
        self, email: str, role: str = "member", projects: list[str] | None = None
    ) -> dict[str, str]:
        """Adds a user; returns its ``user`` fid, ``api_key`` and first ``project``."""
        body = {"email": email, "role": role, "projects": projects or []}
        user: dict[str, str] = self.control("POST", "/users", json=body)
        return user

    def add_registry(self, registry: str, username: str, password: str) -> None:
        """Makes ``registry`` private for instances booted from now on."""
        body = {"registry": registry, "username": username, "password": password}
        self.control("POST", "/registries", json=body)

    def place_bid(self, **kwargs: Any) -> dict[str, Any]:
        """Places a bid (``bid_body`` arguments) in the default project; returns its body."""
        response = self.api("POST", "/v2/spot/bids", json=bid_body(self.project, **kwargs))
        assert response.status_code == 201, response.text
        bid: dict[str, Any] = response.json()
        return bid

    def new_ssh_key(self, directory: Path, name: str = "test-key") -> tuple[str, Path]:
        """Generates a key in the default project; returns its fid and private key file."""
        response = self.api("POST", "/v2/ssh-keys", json={"project": self.project, "name": name})
        assert response.status_code == 201, response.text
        path = directory / f"{name}.key"
        path.write_text(response.json()["private_key"])
        path.chmod(0o600)
        return response.json()["fid"], path

    def bid_status(self, fid: str) -> str:
        """Returns the status of bid ``fid``."""
        status: str = self.api("GET", f"/v2/spot/bids/{fid}").json()["status"]
        return status

    def instances_of(self, bid_fid: str) -> list[dict[str, Any]]:
        """Returns the instances of bid ``bid_fid``."""
        params = {"project": self.project, "bid_fid_in": bid_fid}
        found: list[dict[str, Any]] = self.api("GET", "/v2/instances", params=params).json()["data"]
        return found

    def running_instances(self, bid_fid: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Waits until every instance of the bid runs; returns them."""

        def check() -> list[dict[str, Any]]:
            found = self.instances_of(bid_fid)
            done = found and all(i["status"] == "STATUS_RUNNING" for i in found)
            return found if done else []

        running: list[dict[str, Any]] = wait_for(check, timeout)
        return running

    def instance_processes(self) -> list[int]:
        """Returns live processes of this sandbox's instances (sshd, sessions, scripts)."""
        if not self.sandbox_id:
            return []
        marker = f"{SANDBOX_ID_VARIABLE}={self.sandbox_id}".encode()
        ours = set(_pids_with_environment(marker)) - {self.process.pid}
        here = pid_namespace(os.getpid())
        # Instances start in a clean environment: their namespaces are found through
        # the marked launcher (``unshare``), whose child is the namespace's PID 1.
        related = ours | {child for pid in ours for child in children(pid)}
        namespaces = {pid_namespace(pid) for pid in related} - {here, None}
        ours.update(pid for pid in _live_pids() if pid_namespace(pid) in namespaces)
        return sorted(ours - {self.process.pid})


def _live_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _pids_with_environment(marker: bytes) -> list[int]:
    """Returns the processes whose (initial) environment holds ``marker`` exactly."""
    found = []
    for pid in _live_pids():
        try:
            variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # Gone, or a kernel thread.
        if marker in variables:
            found.append(pid)
    return found


def start_sandbox(root: Path, *extra: str) -> SandboxHandle:
    """Starts ``python -m flow_notebook.sandbox`` on a free port and waits until it answers.

    Raises:
        RuntimeError: When it does not print its three lines or answer in time.
    """
    root.mkdir(parents=True, exist_ok=True)
    sandbox_id = uuid.uuid4().hex
    stderr = open(root / "sandbox.stderr", "w")  # noqa: SIM115 - owned by the child
    with stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "flow_notebook.sandbox", "--root", str(root), *extra],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, SANDBOX_ID_VARIABLE: sandbox_id},
        )
    try:
        values = _read_lines(process, 3)
        handle = SandboxHandle(
            values["MITHRIL_API_URL"],
            values["MITHRIL_API_KEY"],
            values["MITHRIL_PROJECT"],
            root,
            process,
            sandbox_id,
        )
        _wait_ready(handle)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return handle


def stop_sandbox(handle: SandboxHandle) -> None:
    """SIGTERMs the sandbox, waits for it, and asserts no instance process survived."""
    handle.process.send_signal(signal.SIGTERM)
    try:
        handle.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        handle.process.kill()
        handle.process.wait()
        raise AssertionError("the sandbox did not stop within 30 s of SIGTERM") from None
    if handle.process.stdout:
        handle.process.stdout.close()
    leaked = handle.instance_processes()
    for pid in leaked:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leaked, f"sandbox instance processes survived shutdown: {leaked}"


def _read_lines(process: subprocess.Popen[str], count: int) -> dict[str, str]:
    values: dict[str, str] = {}

    def read() -> None:
        assert process.stdout is not None
        while len(values) < count:
            line = process.stdout.readline()
            if not line:
                return
            name, _, value = line.strip().partition("=")
            values[name] = value

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if len(values) < count:
        raise RuntimeError(f"the sandbox printed {len(values)} of {count} lines")
    return values


def _wait_ready(handle: SandboxHandle) -> None:
    import requests

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {handle.process.returncode}")
        try:
            requests.get(f"{handle.url}/_sandbox/info", timeout=2).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError("the sandbox did not answer within 30 s")


@pytest.fixture(scope="session")
def mithril_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A sandbox shared by the whole test session."""
    handle = start_sandbox(tmp_path_factory.mktemp("mithril_sandbox"))
    yield handle
    stop_sandbox(handle)


@pytest.fixture
def fresh_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A sandbox for one test only (its market, quotas and faults are its own)."""
    handle = start_sandbox(tmp_path_factory.mktemp("fresh_sandbox"))
    yield handle
    stop_sandbox(handle)


@pytest.fixture
def require_ssh() -> None:
    """Fails when real instances cannot run here, unless ``FLOW_ALLOW_NO_SSH=1`` (then skips)."""
    check_ssh_prerequisites()


def check_ssh_prerequisites() -> None:
    """``require_ssh`` for wider-scoped fixtures: fails (skips with ``FLOW_ALLOW_NO_SSH=1``)."""
    reason = missing_prerequisites()
    if reason is None:
        return
    message = f"real sandbox instances need root, sshd, unshare and rsync: {reason}"
    if os.environ.get("FLOW_ALLOW_NO_SSH") == "1":
        pytest.skip(message)
    pytest.fail(message + " (set FLOW_ALLOW_NO_SSH=1 to skip these tests)")
