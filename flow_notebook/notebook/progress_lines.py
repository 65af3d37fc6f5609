"""Shows a provider's progress lines (API retries) in the cell that is waiting for them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flow_notebook.core import progress


@contextmanager
def progress_in_cell() -> Iterator[None]:
    """Prints progress lines reported by this thread while the block runs.

    Lines from other threads (background followers) are not printed: they would land
    in whichever cell happens to be running.
    """
    caller = threading.get_ident()

    def show(line: str) -> None:
        if threading.get_ident() == caller:
            print(f"flow: {line}", flush=True)

    progress.set_reporter(show)
    try:
        yield
    finally:
        progress.set_reporter(None)
