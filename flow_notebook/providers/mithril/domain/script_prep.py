"""Fits a startup script into the platform's size limit by choosing a transfer strategy.

Strategies are tried in order; the first whose result fits wins:

* ``InlineStrategy``: the script as is.
* ``CompressedStrategy``: gzip + base64 behind a tiny bootstrap that decodes it to
  a private temporary file and runs it.
* ``SplitStrategy``: a tiny bootstrap that waits (bounded) for the body, which the
  provider uploads over SSH to ``DEFERRED_SCRIPT`` after boot and then marks with
  ``DEFERRED_READY_MARKER``.
"""

from __future__ import annotations

import base64
import gzip
import shlex
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flow_notebook.core.errors import ScriptTooLargeError
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout

DEFAULT_MAX_CHARS = 10_000
DEFAULT_DEFERRED_WAIT_SECONDS = 1800


@dataclass(frozen=True)
class PreparedScript:
    """A startup script ready for the bid.

    Attributes:
        strategy: Name of the strategy that produced it.
        startup_script: What goes into the bid's ``startup_script``.
        original_chars: Length of the script before preparation.
        deferred_script: Body to upload over SSH after boot (split strategy only).
    """

    strategy: str
    # Scripts carry secrets: keep them out of reprs and tracebacks.
    startup_script: str = field(repr=False)
    original_chars: int = 0
    deferred_script: str | None = field(default=None, repr=False)

    @property
    def chars(self) -> int:
        """Length of ``startup_script``."""
        return len(self.startup_script)

    @property
    def needs_upload(self) -> bool:
        """Whether a deferred body must be uploaded for the task to start."""
        return self.deferred_script is not None


class IScriptTransferStrategy(Protocol):
    """One way of getting a startup script onto an instance."""

    name: str

    def prepare(self, script: str) -> PreparedScript:
        """Returns the script as this strategy would send it."""
        ...


class InlineStrategy:
    """Sends the script unchanged."""

    name = "inline"

    def prepare(self, script: str) -> PreparedScript:
        """Returns ``script`` as is."""
        return PreparedScript(self.name, script, len(script))


class CompressedStrategy:
    """Sends the script gzip-compressed and base64-encoded behind a bootstrap."""

    name = "compressed"

    def prepare(self, script: str) -> PreparedScript:
        """Returns a bootstrap that decodes ``script`` to a temporary file and runs it."""
        # mtime=0 keeps the output stable for the same input.
        packed = gzip.compress(script.encode("utf-8"), compresslevel=9, mtime=0)
        encoded = base64.b64encode(packed).decode("ascii")
        bootstrap = (
            "#!/bin/bash\nset -euo pipefail\n"
            'flow_script="$(mktemp)"\n'
            # The body may hold secrets: remove the decoded copy however it ends.
            "trap 'rm -f \"$flow_script\"' EXIT\n"
            f"printf '%s' '{encoded}' | base64 -d | gunzip >\"$flow_script\"\n"
            'bash "$flow_script"\n'
        )
        return PreparedScript(self.name, bootstrap, len(script))


class SplitStrategy:
    """Sends a bootstrap that waits for the body to be uploaded over SSH.

    Args:
        layout: Instance paths (moved under a root in tests).
        wait_seconds: How long the bootstrap waits for the upload.
        poll_seconds: Interval between checks.
    """

    name = "split"

    def __init__(
        self,
        layout: RuntimeLayout | None = None,
        wait_seconds: int = DEFAULT_DEFERRED_WAIT_SECONDS,
        poll_seconds: float = 2.0,
    ) -> None:
        self._layout = layout or RuntimeLayout()
        self._wait = wait_seconds
        self._poll = poll_seconds

    def prepare(self, script: str) -> PreparedScript:
        """Returns the waiting bootstrap, with ``script`` as the deferred body."""
        q = shlex.quote
        marker, body = q(self._layout.deferred_ready_marker), q(self._layout.deferred_script)
        bootstrap = textwrap.dedent(
            f"""\
            #!/bin/bash
            set -euo pipefail
            {self._layout.grant_command(self._layout.log_dir)}
            deadline=$((SECONDS + {self._wait}))
            until [ -e {marker} ] && [ -e {body} ]; do
              if [ "$SECONDS" -ge "$deadline" ]; then
                echo "flow: startup script was not uploaded within {self._wait}s" >&2
                exit 1
              fi
              sleep {self._poll}
            done
            exec bash {body}
            """
        )
        return PreparedScript(self.name, bootstrap, len(script), deferred_script=script)


def default_strategies(layout: RuntimeLayout | None = None) -> list[IScriptTransferStrategy]:
    """Returns inline, compressed and split, in that order."""
    return [InlineStrategy(), CompressedStrategy(), SplitStrategy(layout)]


class ScriptPreparationService:
    """Chooses the first strategy whose result fits in ``max_chars``.

    Args:
        strategies: Strategies in order of preference; inline, compressed, split by default.
        max_chars: Largest startup script the platform accepts, in characters.
    """

    def __init__(
        self,
        strategies: Sequence[IScriptTransferStrategy] | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self._strategies = list(strategies) if strategies is not None else default_strategies()
        self._max_chars = max_chars

    @property
    def max_chars(self) -> int:
        """Largest startup script accepted, in characters."""
        return self._max_chars

    def prepare(self, script: str) -> PreparedScript:
        """Returns the script prepared by the first strategy that fits.

        Args:
            script: The full startup script.

        Returns:
            The prepared script; ``strategy`` says which strategy was used.

        Raises:
            ScriptTooLargeError: No strategy fits; the message names every size.
        """
        sizes = []
        for strategy in self._strategies:
            prepared = strategy.prepare(script)
            if prepared.chars <= self._max_chars:
                return prepared
            sizes.append(f"{strategy.name} {prepared.chars:,}")
        raise ScriptTooLargeError(
            f"startup script of {len(script):,} characters does not fit in"
            f" {self._max_chars:,} characters ({', '.join(sizes) or 'no strategies'})",
            suggestion="upload large files as code or to a volume instead of embedding them",
        )
