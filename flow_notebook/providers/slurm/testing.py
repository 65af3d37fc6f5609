"""A real two-node Slurm cluster on this machine, for tests and the example notebook.

``start_cluster(root)`` runs ``munged``, ``slurmctld``, two ``slurmd`` (``node1``,
``node2``, each with two fake ``a100`` GPUs: GRES over empty files) and an ``sshd``
on 127.0.0.1 as the login node. Every file they write (config, munge key and socket,
state, spool, logs, pid files) lies under ``root``; ports are free ones, off Slurm's
defaults. ``stop_cluster`` cancels the jobs, stops every daemon and any job process
left (they carry the cluster's id in their environment) and leaves nothing running.

Needs root and Debian's ``slurm-wlm``, ``munge`` and ``openssh-server``
(``scripts/system-deps.sh`` installs them).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flow_notebook.sandbox.hostprep import SSHD, sshd_config
from flow_notebook.sandbox.procs import send_signal

CLUSTER_ID_VARIABLE = "FLOW_SLURM_CLUSTER_ID"
NODES = ("node1", "node2")
GPUS_PER_NODE = 2
PARTITION = "gpu"
PARTITION_MAX_TIME = "2:00:00"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "rsync", "ssh-keygen", "unshare")
LOGIN_RECORDS = ("/var/log/wtmp", "/var/log/lastlog", "/var/log/btmp")


@dataclass
class ClusterHandle:
    """A running test cluster.

    Attributes:
        root: Scratch directory holding everything the cluster writes.
        conf: Path of ``slurm.conf`` (``SLURM_CONF`` for Slurm's commands).
        ssh_port: Port of the login node's sshd on 127.0.0.1.
        key_path: Private key that logs in to the login node as root.
        jobs_root: Directory for task files on the "shared filesystem".
        cluster_id: Random id in every daemon's environment (to find leftovers).
        processes: The daemons, by name.
    """

    root: Path
    conf: Path
    ssh_port: int
    key_path: Path
    jobs_root: Path
    cluster_id: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Variables that point the Slurm provider at this cluster over SSH."""
        return {
            "FLOW_PROVIDER": "slurm",
            "FLOW_SLURM_HOST": "127.0.0.1",
            "FLOW_SLURM_PORT": str(self.ssh_port),
            "FLOW_SLURM_USER": "root",
            "FLOW_SLURM_KEY": str(self.key_path),
            "FLOW_SLURM_ROOT": str(self.jobs_root),
        }

    @property
    def local_env(self) -> dict[str, str]:
        """Variables for a kernel on the login node itself (no SSH)."""
        return {
            "FLOW_PROVIDER": "slurm",
            "FLOW_SLURM_ROOT": str(self.jobs_root),
            "SLURM_CONF": str(self.conf),
        }

    def command(self, *args: str, check: bool = True) -> str:
        """Runs a Slurm command (``squeue``, ``scontrol`` ...) against this cluster."""
        done = subprocess.run(
            list(args),
            env={**os.environ, "SLURM_CONF": str(self.conf)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout


def missing_prerequisites() -> str | None:
    """Returns why the cluster cannot run here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "not running as root"
    for program in PROGRAMS:
        if shutil.which(program) is None:
            return f"{program} is not installed (run scripts/system-deps.sh)"
    if not Path(SSHD).is_file():
        return f"{SSHD} is not installed"
    return None


def start_cluster(root: Path) -> ClusterHandle:
    """Writes the configuration under ``root`` and starts every daemon.

    Returns:
        The handle, once both nodes are idle and the login node answers.

    Raises:
        RuntimeError: A daemon did not come up (its log is named).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    ports = _free_ports(5)
    handle = ClusterHandle(
        root=root,
        conf=root / "etc" / "slurm.conf",
        ssh_port=ports[4],
        key_path=root / "login" / "id_ed25519",
        jobs_root=root / "jobs",
        cluster_id=uuid.uuid4().hex,
    )
    try:
        _write_files(handle, ports)
        _start_daemons(handle)
        _wait_until_idle(handle)
    except BaseException:
        stop_cluster(handle)
        raise
    return handle


def stop_cluster(handle: ClusterHandle, *, remove: bool = False) -> None:
    """Cancels every job, stops the daemons and kills any process of the cluster left.

    Args:
        handle: The cluster.
        remove: Also delete its scratch directory (state, logs, key, job files).
    """
    if "slurmctld" in handle.processes and handle.processes["slurmctld"].poll() is None:
        handle.command("scancel", "--full", "--partition", PARTITION, check=False)
        _wait(lambda: not handle.command("squeue", "-h", check=False).strip(), 15.0)
    for name in ["sshd", *(f"slurmd-{node}" for node in NODES), "slurmctld", "munged"]:
        process = handle.processes.pop(name, None)
        if process is not None:
            _terminate(process)
    for pid in _pids_with_environment(f"{CLUSTER_ID_VARIABLE}={handle.cluster_id}".encode()):
        send_signal(pid, signal.SIGKILL)
    if remove:
        shutil.rmtree(handle.root, ignore_errors=True)


def _write_files(handle: ClusterHandle, ports: list[int]) -> None:
    root = handle.root
    for sub in ("etc", "munge", "state", "log", "run", "login", "jobs"):
        (root / sub).mkdir(mode=0o700 if sub == "munge" else 0o755, exist_ok=True)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    for node in NODES:
        (root / "spool" / node).mkdir(parents=True, exist_ok=True)
        gpu_dir = root / "gpus" / node
        gpu_dir.mkdir(parents=True, exist_ok=True)
        for index in range(GPUS_PER_NODE):
            (gpu_dir / f"gpu{index}").touch()
    handle.conf.write_text(_slurm_conf(root, ports))
    last = GPUS_PER_NODE - 1
    (root / "etc" / "gres.conf").write_text(
        "".join(
            f"NodeName={node} Name=gpu Type=a100 File={root}/gpus/{node}/gpu[0-{last}]\n"
            for node in NODES
        )
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(handle.key_path)], check=True
    )
    host_key = root / "login" / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    shutil.copy(handle.key_path.with_suffix(".pub"), root / "login" / "authorized_keys")
    (root / "login" / "sshd_config").write_text(_sshd_config(handle, host_key))


def _slurm_conf(root: Path, ports: list[int]) -> str:
    host = socket.gethostname().split(".")[0]
    cpus = max(1, min(2, os.cpu_count() or 1))
    lines = [
        "ClusterName=flowtest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ports[0]}",
        f"SlurmdPort={ports[1]}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool/%n",
        f"SlurmctldPidFile={root}/run/slurmctld.pid",
        f"SlurmdPidFile={root}/run/slurmd-%n.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd-%n.log",
        f"PlugStackConfig={root}/etc/plugstack.conf",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SlurmdParameters=config_overrides",
        "GresTypes=gpu",
        "MpiDefault=none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root}/log/jobcomp.txt",
        "EnforcePartLimits=ALL",
        "ReturnToService=2",
        "MinJobAge=300",
        "KillWait=2",
        "InactiveLimit=0",
        "SchedulerType=sched/backfill",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
    ]
    for index, node in enumerate(NODES):
        lines.append(
            f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={ports[2 + index]}"
            f" CPUs={cpus} RealMemory=1000 Gres=gpu:a100:{GPUS_PER_NODE} State=UNKNOWN"
        )
    lines.append(
        f"PartitionName={PARTITION} Nodes={','.join(NODES)} Default=YES"
        f" MaxTime={PARTITION_MAX_TIME} State=UP"
    )
    return "\n".join(lines) + "\n"


def _sshd_config(handle: ClusterHandle, host_key: Path) -> str:
    login = handle.root / "login"
    return sshd_config(
        f"Port {handle.ssh_port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {handle.root}/run/sshd.pid",
        f"AuthorizedKeysFile {login}/authorized_keys",
        "StrictModes no",
        # A login node's users find Slurm's commands configured for its cluster.
        f"SetEnv SLURM_CONF={handle.conf} {CLUSTER_ID_VARIABLE}={handle.cluster_id}",
    )


def _start_daemons(handle: ClusterHandle) -> None:
    root = handle.root
    (root / "etc" / "plugstack.conf").write_text("")
    munge = root / "munge"
    _spawn(
        handle,
        "munged",
        [
            "munged",
            "--foreground",
            "--force",
            f"--key-file={munge}/munge.key",
            f"--socket={munge}/munge.socket",
            f"--pid-file={root}/run/munged.pid",
            f"--log-file={root}/log/munged.log",
            f"--seed-file={munge}/munged.seed",
        ],
    )
    if not _wait(lambda: (munge / "munge.socket").exists(), 10.0):
        raise RuntimeError(f"munged did not start; see {root}/log/munged.log")
    _spawn(handle, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(handle.conf)])
    for node in NODES:
        _spawn(handle, f"slurmd-{node}", ["slurmd", "-D", "-N", node, "-f", str(handle.conf)])
    _spawn(handle, "sshd", _login_sshd(root))


def _login_sshd(root: Path) -> list[str]:
    """The login node's sshd, in a mount namespace of its own.

    There its ``/run`` (privilege-separation directory, utmp) and the login records
    (``/var/log/wtmp``, ``lastlog``, ``btmp``) are files of the scratch directory, so
    logins change nothing on the host.
    """
    private = root / "login" / "private"
    (private / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    (private / "run" / "sshd").chmod(0o755)
    binds = [f"mount --bind {shlex.quote(str(private / 'run'))} /run"]
    for record in LOGIN_RECORDS:
        if Path(record).is_file():
            copy = private / Path(record).name
            copy.touch()
            binds.append(f"mount --bind {shlex.quote(str(copy))} {record}")
    config = shlex.quote(str(root / "login" / "sshd_config"))
    script = " && ".join([*binds, f"exec {SSHD} -D -e -f {config}"])
    return ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script]


def _spawn(handle: ClusterHandle, name: str, argv: list[str]) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "SLURM_CONF": str(handle.conf),
        CLUSTER_ID_VARIABLE: handle.cluster_id,
    }
    log = open(handle.root / "log" / f"{name}.out", "ab")  # noqa: SIM115 - handed to the child
    with log:
        handle.processes[name] = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


def _wait_until_idle(handle: ClusterHandle) -> None:
    def nodes_idle() -> bool:
        for name, process in handle.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited; see {handle.root}/log/")
        out = handle.command("sinfo", "-h", "-N", "-o", "%N %t", check=False)
        states = dict(line.split() for line in out.splitlines() if len(line.split()) == 2)
        return all(states.get(node) == "idle" for node in NODES)

    if not _wait(nodes_idle, START_TIMEOUT):
        raise RuntimeError(f"the Slurm nodes did not become idle; see {handle.root}/log/")
    if not _wait(lambda: _banner(handle.ssh_port), 15.0):
        raise RuntimeError(f"the login node's sshd did not start; see {handle.root}/log/")


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _wait(check: object, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():  # type: ignore[operator]
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def _pids_with_environment(marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            variables = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in variables:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHandle]:
    """One two-node cluster shared by every test of the session; stopped at the end."""
    missing = missing_prerequisites()
    if missing:
        pytest.fail(f"a real Slurm cluster cannot run here: {missing}")
    handle = start_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield handle
    finally:
        stop_cluster(handle)
        assert not _pids_with_environment(f"{CLUSTER_ID_VARIABLE}={handle.cluster_id}".encode()), (
            "a process of the test cluster survived"
        )
