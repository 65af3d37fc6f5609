"""Running a task's command inside a container image on the instance (``--image``).

The runner pulls the image and then runs the command with ``docker run``, mapping in
what a host-mode run gets: every GPU (``--gpus all``), the host's network and IPC
(multi-node rendezvous, tunnels, PyTorch shared memory), the volumes and the working
directory (the synced code) at the same paths, and the task's environment. Every
value reaches ``docker`` as one argument (``shlex.quote``); the image name is also
checked against Docker's reference grammar before any bid, so a mistyped name fails
in one line without starting an instance.

Environment variables and secrets go in by name only (``-e NAME``): ``docker`` copies
each value from the runner's environment, so no value (a secret) ever appears in a
command line. A private registry's credentials are the two secrets named
``REGISTRY_USER_SECRET`` and ``REGISTRY_PASSWORD_SECRET``; the runner writes them into
a root-only, temporary Docker configuration for the pull (shell built-ins only, so
they are in no command line either), deletes it afterwards, and does not pass them
into the container.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout

REGISTRY_USER_SECRET = "FLOW_REGISTRY_USER"
"""Secret holding the user name of the image's registry."""
REGISTRY_PASSWORD_SECRET = "FLOW_REGISTRY_PASSWORD"  # noqa: S105 - a variable name
"""Secret holding the password (or token) of the image's registry."""
REGISTRY_SECRETS = (REGISTRY_USER_SECRET, REGISTRY_PASSWORD_SECRET)
NODE_VARIABLES = ("FLOW_NODE_RANK", "FLOW_NUM_NODES", "FLOW_MAIN_IP", "MASTER_ADDR")
"""Variables the runner sets for every node (see ``StartupScriptBuilder``)."""
DOCKER_HUB = "docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
"""The key under which Docker keeps Docker Hub's credentials in its configuration."""

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?$"
)
_MAX_NAME = 255


def check_image(reference: str) -> str:
    """Returns ``reference`` when it is a Docker image reference.

    Raises:
        ValidationError: Anything else (shell characters, spaces, upper case in the
            repository, a leading ``-``), in one line that does not repeat it whole.
    """
    match = _REFERENCE.match(reference)
    if match is None or len(match.group("name")) > _MAX_NAME:
        shown = reference if len(reference) <= 80 else reference[:77] + "..."
        raise ValidationError(
            f"not a container image reference: {shown!r}",
            field="image",
            suggestion="name it like pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime"
            " or ghcr.io/org/image@sha256:...",
        )
    return reference


def registry_of(reference: str) -> str:
    """Returns the registry host of an image (``docker.io`` when the name has none)."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def auth_key(registry: str) -> str:
    """Returns the key of ``registry``'s entry in a Docker configuration's ``auths``."""
    return DOCKER_HUB_AUTH_KEY if registry == DOCKER_HUB else registry


def check_registry_secrets(config: TaskConfig) -> None:
    """Refuses registry credentials that are half given or given without an image.

    Raises:
        ValidationError: One of the two secrets without the other, or either without
            ``image``.
    """
    given = [name for name in REGISTRY_SECRETS if name in config.secrets]
    if not given:
        return
    if not config.image:
        raise ValidationError(
            f"the secret {given[0]} is a registry credential, used only with --image",
            field="secrets",
            suggestion="add --image, or drop the registry secrets",
        )
    if len(given) != len(REGISTRY_SECRETS):
        missing = next(name for name in REGISTRY_SECRETS if name not in given)
        raise ValidationError(
            f"registry credentials need both {REGISTRY_USER_SECRET} and"
            f" {REGISTRY_PASSWORD_SECRET}; {missing} is missing",
            field="secrets",
        )


class ContainerRun:
    """The shell of a runner that pulls the task's image and runs the command in it.

    Args:
        layout: Instance paths.
        config: The task (``image`` set; ``check_image`` is the submitter's job, and
            whatever it holds reaches ``docker`` as one argument).
        mount_paths: Where the task's volumes appear (bound into the container there).
    """

    def __init__(
        self, layout: RuntimeLayout, config: TaskConfig, mount_paths: Sequence[str]
    ) -> None:
        self._layout = layout
        self._config = config
        self._image = config.image or ""
        self._mount_paths = list(mount_paths)

    def pull(self) -> str:
        """Returns the lines that pull the image, showing the step in the phase file."""
        lay, q = self._layout, shlex.quote
        image, registry = q(self._image), registry_of(self._image)
        user, password = (f'"${{{name}:-}}"' for name in REGISTRY_SECRETS)
        refused = q(
            f"the registry {registry} refused the login for {self._image}"
            f" (check the secrets {REGISTRY_USER_SECRET} and {REGISTRY_PASSWORD_SECRET})"
        )
        needs_login = q(
            f"pulling {self._image} needs a registry login: pass the secrets"
            f" {REGISTRY_USER_SECRET} and {REGISTRY_PASSWORD_SECRET}"
        )
        no_docker = q(f"this instance has no docker to run the image {self._image}")
        phase = q(f"pulling image {self._image}")
        cannot_pull = q(f"cannot pull {self._image}: ")
        return "\n".join(
            [
                f"command -v docker >/dev/null 2>&1 || flow_fail {no_docker}",
                f"printf '%s\\n' {phase} >{q(lay.phase_file)}",
                "flow_docker_config=$(mktemp -d) || flow_fail 'cannot create a docker config'",
                f"if [ -n {user} ]; then",
                # printf is a built-in: the credentials appear in no command line.
                f"  flow_auth=$(printf '%s:%s' {user} {password} | base64 | tr -d '\\n')",
                f'  printf \'{{"auths":{{"%s":{{"auth":"%s"}}}}}}\\n\''
                f' {q(auth_key(registry))} "$flow_auth" >"$flow_docker_config/config.json"',
                "  unset flow_auth",
                "fi",
                f'DOCKER_CONFIG="$flow_docker_config" docker pull -- {image}'
                f" >{q(lay.pull_log)} 2>&1",
                "flow_pull_rc=$?",
                'rm -rf "$flow_docker_config"',
                f"cat {q(lay.pull_log)} >>{q(lay.runner_log)}",
                f"rm -f {q(lay.phase_file)}",
                'if [ "$flow_pull_rc" -ne 0 ]; then',
                f"  if grep -qiE 'unauthorized|denied|authentication required' {q(lay.pull_log)};"
                f" then",
                f"    [ -n {user} ] && flow_fail {refused}",
                f"    flow_fail {needs_login}",
                "  fi",
                f'  flow_fail {cannot_pull}"$(tail -n 1 {q(lay.pull_log)})"',
                "fi",
            ]
        )

    def wrap(self, command: str) -> str:
        """Returns ``docker run`` around ``command`` (the arguments after the image)."""
        lay, config, q = self._layout, self._config, shlex.quote
        names = ["FLOW_TASK_NAME", *config.env, *NODE_VARIABLES]
        names += [name for name in config.secrets if name not in REGISTRY_SECRETS]
        workdir = lay.at(config.working_dir)
        binds = [f"{lay.at(path)}:{lay.at(path)}" for path in self._mount_paths]
        binds.append(f"{workdir}:{workdir}")
        if config.script is not None:
            binds.append(f"{lay.user_script}:{lay.user_script}:ro")
        options = ["--rm", "--init", "--gpus", "all", "--network", "host", "--ipc", "host"]
        options += ["--pull", "never", "-w", workdir]
        for bind in dict.fromkeys(binds):
            options += ["-v", bind]
        for name in dict.fromkeys(names):
            options += ["-e", name]
        return f"docker run {shlex.join(options)} -- {q(self._image)} {command}"


def in_image_command(config: TaskConfig, user_script: str) -> str:
    """Returns the arguments after the image that run the task's command in it.

    A string command runs under ``bash -c`` as on the host, or ``sh -c`` in an image
    without bash; a script runs with the image's ``python3`` (or ``python``) or bash.
    """
    q = shlex.quote
    if config.script is not None:
        if config.interpreter == "bash":
            return f"bash {q(user_script)}"
        pick = 'exec "$(command -v python3 || command -v python)" "$1"'
        return f"sh -c {q(pick)} sh {q(user_script)}"
    if isinstance(config.command, str):
        shell = 'if command -v bash >/dev/null 2>&1; then exec bash -c "$1"; fi; exec sh -c "$1"'
        return f"sh -c {q(shell)} sh {q(config.command)}"
    return shlex.join(config.command or [])
