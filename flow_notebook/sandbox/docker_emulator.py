#!/usr/bin/env python3
"""``docker`` on a sandbox instance: the subset a startup script uses, not a real container.

The sandbox writes this file to ``/usr/local/bin/docker`` on every instance (it only
uses the standard library: it runs with the instance's ``python3``). It records each
invocation, one JSON line per call in ``CALLS`` (root-only), so tests can check the
image, mounts, working directory and environment names a client passed, and then:

- ``docker pull [--] IMAGE``: checks the reference as Docker does, and the credentials
  when the image's registry is one of the sandbox's private registries
  (``REGISTRIES``, written by the sandbox at boot: a SHA-256 of ``user:password`` per
  registry, never the password); the credentials come from the ``auths`` of
  ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``), as Docker reads them. The
  image is then "pulled": its name is added to ``IMAGES``.
- ``docker run [OPTIONS] [--] IMAGE COMMAND [ARG...]``: runs ``COMMAND`` on the instance
  itself (the host's programs, whatever the image) in a mount namespace of its own with
  each ``-v SRC:DST[:ro]`` bound, in the ``-w`` directory, with a container's clean
  environment (``PATH``, ``HOSTNAME``, ``HOME`` and the ``-e`` variables; ``-e NAME``
  copies the caller's value). It execs the command, so signals reach it and its exit
  status is the call's. ``--gpus``, ``--init``, ``--rm`` and ``--name`` are recorded
  only (no GPU, no init process); ``--network`` and ``--ipc`` accept only ``host``.
- ``docker version``: says what this is.

Errors and exit statuses follow Docker's: 125 for a refused ``run``, 127 for a command
not found, 1 for a failed ``pull``. Anything else is refused, so a startup script that
starts using more of Docker fails in the sandbox instead of being half emulated.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

STATE = Path("/var/lib/docker-emulation")
CALLS = STATE / "calls.jsonl"
IMAGES = STATE / "images.json"
REGISTRIES = Path("/etc/docker-emulation/registries.json")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKER_HUB = "docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
CLONE_NEWNS = 0x00020000
RUN_VALUE_OPTIONS = {
    "--gpus": "gpus",
    "--network": "network",
    "--net": "network",
    "--ipc": "ipc",
    "--pull": "pull",
    "--name": "name",
    "-w": "workdir",
    "--workdir": "workdir",
    "-v": "volume",
    "--volume": "volume",
    "-e": "env",
    "--env": "env",
}
RUN_FLAGS = {"--rm": "rm", "--init": "init"}
# Docker's reference grammar (distribution/reference), kept here: the sandbox imports
# nothing of the client, so a mistake there is caught rather than copied.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


class DockerError(Exception):
    """A refusal: printed as Docker prints it, with its exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def main(argv: list[str]) -> int:
    """Runs one ``docker`` command; returns its exit status."""
    _record(argv)
    if os.geteuid() != 0:
        print(
            "permission denied while trying to connect to the Docker daemon socket",
            file=sys.stderr,
        )
        return 1
    commands = {"pull": pull, "run": run, "version": version}
    if not argv or argv[0] not in commands:
        name = argv[0] if argv else ""
        print(f"docker: '{name}' is not a docker command the sandbox emulates", file=sys.stderr)
        return 1
    try:
        return commands[argv[0]](argv[1:])
    except DockerError as exc:
        print(str(exc), file=sys.stderr)
        return exc.status


def version(args: list[str]) -> int:
    """Says that this is the sandbox's emulation."""
    print("docker (emulated by the Mithril sandbox: no daemon, no containers)")
    return 0


def pull(args: list[str]) -> int:
    """``docker pull [--] IMAGE``: checks the name and the credentials, records the image."""
    rest = args[1:] if args[:1] == ["--"] else args
    if len(rest) != 1 or (rest[0].startswith("-") and args[:1] != ["--"]):
        raise DockerError('"docker pull" requires exactly 1 argument (no options emulated)', 1)
    reference = _normalized(rest[0], status=1)
    _authorize(reference, status=1)
    _remember(reference)
    print(f"{reference}: Pulling from the sandbox (emulated)")
    print(f"Status: Downloaded newer image for {reference}")
    return 0


def run(args: list[str]) -> int:
    """``docker run``: see the module docstring."""
    options, rest = _run_options(args)
    if not rest:
        raise DockerError('docker: "docker run" requires at least 1 argument.', 125)
    reference = _normalized(rest[0], status=125, prefix="docker: ")
    command = rest[1:]
    policy = options.get("pull", ["missing"])[-1]
    if policy not in ("never", "missing", "always"):
        raise DockerError(f'docker: invalid pull option: "{policy}"', 125)
    if policy == "always" or (policy == "missing" and reference not in _images()):
        _authorize(reference, status=125)
        _remember(reference)
    if reference not in _images():
        raise DockerError(f"docker: Error response from daemon: No such image: {reference}.", 125)
    for option in ("network", "ipc"):
        for value in options.get(option, []):
            if value != "host":
                raise DockerError(
                    f"docker: the sandbox's emulated docker supports only --{option} host", 125
                )
    if not command:
        raise DockerError(
            "docker: the sandbox's emulated docker has no image to read a default command"
            " from; give the command after the image",
            125,
        )
    volumes = [_volume(spec) for spec in options.get("volume", [])]
    workdir = options.get("workdir", ["/"])[-1]
    if not workdir.startswith("/"):
        raise DockerError(f"docker: the working directory '{workdir}' is invalid.", 125)
    env = {"PATH": CONTAINER_PATH, "HOSTNAME": secrets.token_hex(6), "HOME": "/root"}
    for item in options.get("env", []):
        name, equals, value = item.partition("=")
        if equals:
            env[name] = value
        elif name in os.environ:
            env[name] = os.environ[name]
    _enter(volumes, workdir)
    program = shutil.which(command[0], path=env["PATH"]) if "/" not in command[0] else command[0]
    if program is None or not os.access(program, os.X_OK):
        raise DockerError(
            "docker: Error response from daemon: failed to create task for container:"
            f' exec: "{command[0]}": executable file not found in $PATH',
            127,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, command, env)
    return 127  # not reached


def _run_options(args: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    options: dict[str, list[str]] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return options, args[index + 1 :]
        if not arg.startswith("-") or arg == "-":
            return options, args[index:]
        name, equals, value = arg.partition("=")
        if name in RUN_FLAGS and not equals:
            options.setdefault(RUN_FLAGS[name], []).append("true")
        elif name in RUN_VALUE_OPTIONS:
            if not equals:
                index += 1
                if index >= len(args):
                    raise DockerError(f"docker: flag needs an argument: {name}", 125)
                value = args[index]
            options.setdefault(RUN_VALUE_OPTIONS[name], []).append(value)
        else:
            raise DockerError(f"docker: unknown flag: {name} (not emulated by the sandbox)", 125)
        index += 1
    return options, []


def _volume(spec: str) -> tuple[str, str, bool]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(p.startswith("/") for p in parts[:2]):
        raise DockerError(
            f"docker: invalid volume {spec!r}: the emulation binds absolute host paths only", 125
        )
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise DockerError(f"docker: invalid mode: {mode}", 125)
    if not os.path.exists(parts[0]):
        raise DockerError(f"docker: bind source path does not exist: {parts[0]}", 125)
    return parts[0], parts[1], mode == "ro"


def _enter(volumes: list[tuple[str, str, bool]], workdir: str) -> None:
    """Binds the volumes in a mount namespace of this process, then enters ``workdir``."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise DockerError(
            f"docker: cannot create a mount namespace (errno {ctypes.get_errno()})", 125
        )
    _mount("--make-rprivate", "/")
    for source, target, read_only in volumes:
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).touch()
        _mount("--bind", source, target)
        if read_only:
            _mount("-o", "remount,bind,ro", target)
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DockerError(f"docker: mount {' '.join(args)} failed: {done.stderr.strip()}", 125)


def _normalized(reference: str, *, status: int, prefix: str = "") -> str:
    match = _REFERENCE.match(reference)
    if match is None or len(match.group("name")) > 255:
        raise DockerError(f"{prefix}invalid reference format", status)
    if match.group("tag") is None and match.group("digest") is None:
        return reference + ":latest"
    return reference


def registry_of(reference: str) -> str:
    """Returns the registry host of an image reference (Docker's rule).

    The client has its own copy (``runtime/container.py``) on purpose: the sandbox
    imports nothing of it, so the two are checked against each other, not shared.
    """
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def _authorize(reference: str, *, status: int) -> None:
    registry = registry_of(reference)
    try:
        accounts = json.loads(REGISTRIES.read_text())
    except (OSError, ValueError):
        accounts = {}
    if registry not in accounts:
        return  # a public registry
    key = DOCKER_HUB_AUTH_KEY if registry == DOCKER_HUB else registry
    config_dir = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        auths = json.loads(Path(config_dir, "config.json").read_text()).get("auths", {})
        given = base64.b64decode(auths[key]["auth"], validate=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise DockerError(
            f'Error response from daemon: Head "https://{registry}/v2/": unauthorized:'
            " authentication required",
            status,
        ) from None
    if hashlib.sha256(given).hexdigest() != accounts[registry]:
        raise DockerError(
            f'Error response from daemon: Get "https://{registry}/v2/": unauthorized:'
            " incorrect username or password",
            status,
        )


def _images() -> list[str]:
    try:
        loaded = json.loads(IMAGES.read_text())
    except (OSError, ValueError):
        return []
    return [str(name) for name in loaded] if isinstance(loaded, list) else []


def _remember(reference: str) -> None:
    images = _images()
    if reference not in images:
        STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
        IMAGES.write_text(json.dumps([*images, reference]))


def _record(argv: list[str]) -> None:
    try:
        STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = json.dumps({"argv": argv, "uid": os.geteuid(), "time": time.time()})
        with open(CALLS, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:
        pass  # a caller without root cannot record; it is refused next anyway


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
