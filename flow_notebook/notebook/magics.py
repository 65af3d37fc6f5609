"""The ``%flow`` line magic, the ``%%flow run`` cell magic and the extension entry points.

``%load_ext flow_notebook`` registers ``FlowMagics``. The provider is built on the
first subcommand that needs it, so loading the extension is quick and imports no
widget, SSH or HTTP library. In a Jupyter kernel a cell's live view is one display
updated in place (rich HTML and plain text); elsewhere (terminal IPython) lines print.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Float, Integer, observe

from flow_notebook.notebook.arguments import SecretPrompt
from flow_notebook.notebook.dispatch import dispatch, dispatch_cell
from flow_notebook.notebook.notebook_tasks import NotebookTasks
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.progress_lines import progress_in_cell
from flow_notebook.notebook.session import FlowSession, ProviderFactory, SurfaceFactory, Timing
from flow_notebook.notebook.surfaces import DEFAULT_KEEP_KB


def _registry_provider(name: str | None = None) -> Any:
    from flow_notebook.core.registry import get_provider

    return get_provider(name)


def _seconds(
    default: float, bounds: tuple[float, float], help_text: str
) -> Float[float, float | int]:
    """A setting in seconds between ``bounds``, settable with ``%config``."""
    low, high = bounds
    return Float(default, min=low, max=high, config=True, help=help_text)


@magics_class
class FlowMagics(Magics):
    """The ``%flow`` magics.

    Settings are traits: ``%config FlowMagics.keep_kb = 256`` changes one for the
    kernel, ``c.FlowMagics.keep_kb = 256`` in an IPython profile for every kernel.

    Args:
        shell: The IPython shell.
        provider_factory: Builds a provider from a name (``None``: the configured one);
            defaults to the provider registry.
        positions: Where followed log positions are recorded.
        timing: Poll intervals and waits.
        tasks: Where the tasks each notebook started are recorded.
        surface_factory: Builds where a cell's live view is drawn; default: an
            in-place display in a Jupyter kernel, printed lines elsewhere.
        secret_prompt: Asks for a ``--secret NAME`` value missing from the environment;
            ``None`` (the default here) makes it an error.
    """

    poll_interval = _seconds(
        Timing.poll_interval,
        (0.05, 60.0),
        "Seconds between status checks while waiting for a task (wait, cancel, follow).",
    )
    settle_timeout = _seconds(
        Timing.settle_timeout,
        (0.5, 600.0),
        "Seconds to wait for a final status after a log ends or a cancel is asked.",
    )
    keep_kb = Integer(
        DEFAULT_KEEP_KB,
        min=1,
        config=True,
        help="KB of output a live view keeps in the notebook (a run's --keep-kb overrides it).",
    )
    dashboard_interval = _seconds(
        2.0,
        (0.2, 3600.0),
        "Seconds between dashboard refreshes (%flow dashboard --interval overrides it).",
    )

    def __init__(
        self,
        shell: Any = None,
        provider_factory: ProviderFactory | None = None,
        *,
        positions: LogPositions | None = None,
        timing: Timing | None = None,
        tasks: NotebookTasks | None = None,
        surface_factory: SurfaceFactory | None = None,
        secret_prompt: SecretPrompt | None = None,
    ) -> None:
        # Made before the traits load the shell's config: their observers update it.
        self.session = FlowSession(
            provider_factory or _registry_provider,
            positions,
            timing,
            tasks=tasks,
            surface_factory=surface_factory or default_surface_factory(shell),
            secret_prompt=secret_prompt,
            user_ns=getattr(shell, "user_ns", None),
        )
        super().__init__(shell)
        if timing is None:
            self._timing_changed()
        self._defaults_changed()

    @observe("poll_interval", "settle_timeout")
    def _timing_changed(self, change: Any = None) -> None:
        self.session.timing = Timing(self.poll_interval, self.settle_timeout)

    @observe("keep_kb", "dashboard_interval")
    def _defaults_changed(self, change: Any = None) -> None:
        self.session.keep_kb = self.keep_kb
        self.session.dashboard_interval = self.dashboard_interval

    @line_cell_magic
    def flow(self, line: str, cell: str | None = None) -> Any:
        """Runs a flow subcommand (``%flow help`` lists them) or a cell (``%%flow run``).

        ``%flow NAME?`` shows a subcommand's options; ``%config FlowMagics`` the settings.

        Returns:
            ``%flow run`` returns the ``Task``; the others (and ``%%flow run``) show
            their output and return ``None``.

        Raises:
            UsageError: Bad input or a provider error, as one line.
        """
        with progress_in_cell():
            if cell is None:
                return dispatch(self.session, line)
            return dispatch_cell(self.session, line, cell)


def _flow_doc() -> str:
    """``%flow?``: the magic's docstring and the subcommands, from the command table."""
    from flow_notebook.notebook.commands.help import overview

    return f"{inspect.cleandoc(FlowMagics.flow.__doc__ or '')}\n\n{overview()}"


# IPython's ``?`` asks an object's ``getdoc()`` first: the text is made when asked.
setattr(FlowMagics.flow, "getdoc", _flow_doc)  # noqa: B010 - a function attribute

_HELP_SUFFIX = re.compile(r"^(\s*)%flow\s+([A-Za-z][\w-]*)\s*\?{1,2}\s*$")


def help_suffix(lines: list[str]) -> list[str]:
    """Turns ``%flow NAME?`` into ``%flow help NAME`` (IPython would look up ``NAME``)."""
    return [_HELP_SUFFIX.sub(r"\1%flow help \2", line.rstrip("\n")) + "\n" for line in lines]


def default_surface_factory(shell: Any) -> SurfaceFactory | None:
    """Returns an in-place display for Jupyter kernels, ``None`` (printed lines) elsewhere."""
    if getattr(shell, "kernel", None) is None:
        return None

    def make(metadata: dict[str, Any], keep_kb: int | None) -> Any:
        from flow_notebook.notebook.surfaces import CellView, PlainSurface
        from flow_notebook.notebook.widgets.html import widgets_available

        if not widgets_available():
            return PlainSurface(keep_kb, title=True)
        return CellView(str(metadata.get("task_id", "")), keep_kb=keep_kb, metadata=metadata)

    return make


def getpass_prompt(name: str) -> str:
    """Asks for a secret's value without echoing it (terminal or Jupyter frontend)."""
    import getpass

    if name == "api_key":
        return getpass.getpass("Mithril API key (not shown; saved in config.yaml, mode 0600): ")
    return getpass.getpass(f"value of secret {name} (not shown, not stored): ")


_LOADED: dict[int, FlowMagics] = {}
_ON_EXIT: dict[int, Any] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Registers ``%flow`` with ``ipython``; loading twice keeps the first registration."""
    if id(ipython) in _LOADED:
        return
    magics = FlowMagics(ipython, secret_prompt=getpass_prompt)
    ipython.register_magics(magics)
    if hasattr(ipython, "input_transformers_cleanup"):
        ipython.input_transformers_cleanup.append(help_suffix)
    _show_task_failures_as_one_line(ipython)
    _finish_views_on_shutdown(ipython, magics.session)
    _LOADED[id(ipython)] = magics


def _finish_views_on_shutdown(ipython: Any, session: FlowSession) -> None:
    """Closes the session when the kernel is asked to shut down or restart.

    ipykernel sets ``shell.exit_now`` while handling the shutdown request, before it
    replies and flushes its output channel, so the panels' final static outputs
    (``widgets.saved_output``: "stopped: the kernel shut down") still reach the page
    and the notebook saved after a restart. A kernel that dies gets no such chance.
    """
    if not hasattr(ipython, "observe"):
        return

    def on_exit(change: dict[str, Any]) -> None:
        if change["new"]:
            session.close("the kernel shut down")

    ipython.observe(on_exit, names="exit_now")
    _ON_EXIT[id(ipython)] = on_exit


def _show_task_failures_as_one_line(ipython: Any) -> None:
    """Shows ``TaskFailedError`` as its one line, not a traceback (nor a usage error)."""
    if not hasattr(ipython, "set_custom_exc"):
        return
    from flow_notebook.notebook.pinned import TaskFailedError

    def one_line(
        shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
    ) -> list[str]:
        # IPython discards what a custom handler returns: the handler must show it. The
        # shell's _showtraceback is what Jupyter kernels turn into the cell's error output.
        line = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, line)
        return line

    ipython.set_custom_exc((TaskFailedError,), one_line)


def unload_ipython_extension(ipython: Any) -> None:
    """Releases the provider the magics built; ``%flow`` stays until re-registered."""
    magics = _LOADED.pop(id(ipython), None)
    on_exit = _ON_EXIT.pop(id(ipython), None)
    if on_exit is not None:
        ipython.unobserve(on_exit, names="exit_now")
    if help_suffix in getattr(ipython, "input_transformers_cleanup", []):
        ipython.input_transformers_cleanup.remove(help_suffix)
    if magics is not None:
        magics.session.close()
