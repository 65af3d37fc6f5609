"""The ``%flow`` line magic and the extension entry points.

``%load_ext flow_notebook`` registers ``FlowMagics``. The provider is built on the
first subcommand that needs it, so loading the extension is quick and imports no
widget, SSH or HTTP library.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from flow_notebook.notebook.dispatch import dispatch
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.session import FlowSession, ProviderFactory, Timing


def _registry_provider(name: str | None = None) -> Any:
    from flow_notebook.core.registry import get_provider

    return get_provider(name)


@magics_class
class FlowMagics(Magics):
    """The ``%flow`` magics.

    Args:
        shell: The IPython shell.
        provider_factory: Builds a provider from a name (``None``: the configured one);
            defaults to the provider registry.
        positions: Where followed log positions are recorded.
        timing: Poll intervals and waits.
    """

    def __init__(
        self,
        shell: Any = None,
        provider_factory: ProviderFactory | None = None,
        *,
        positions: LogPositions | None = None,
        timing: Timing | None = None,
    ) -> None:
        super().__init__(shell)
        self.session = FlowSession(provider_factory or _registry_provider, positions, timing)

    @line_magic
    def flow(self, line: str) -> Any:
        """Runs a flow subcommand: ``%flow help`` lists them.

        Returns:
            ``%flow run`` returns the ``Task``; the other subcommands print and return ``None``.

        Raises:
            UsageError: Bad input or a provider error, as one line.
        """
        return dispatch(self.session, line)


_LOADED: dict[int, FlowMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Registers ``%flow`` with ``ipython``; loading twice keeps the first registration."""
    if id(ipython) in _LOADED:
        return
    magics = FlowMagics(ipython)
    ipython.register_magics(magics)
    _LOADED[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """Releases the provider the magics built; ``%flow`` stays until re-registered."""
    magics = _LOADED.pop(id(ipython), None)
    if magics is not None:
        magics.session.close()
