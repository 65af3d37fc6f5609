"""flow_notebook: run notebook work on GPU instances (or locally) from Jupyter.

Load the extension with ``%load_ext flow_notebook``; then ``%flow help``.
Importing this package is cheap: widgets, SSH and HTTP libraries load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """Registers the ``%flow`` magics with IPython (``%load_ext flow_notebook``)."""
    from flow_notebook.notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Stops background work the extension started (``%unload_ext flow_notebook``)."""
    from flow_notebook.notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)
