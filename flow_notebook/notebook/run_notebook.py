"""Runs a notebook headless and prints what each cell showed.

Usage::

    python -m flow_notebook.notebook.run_notebook notebooks/01_quickstart.ipynb

The kernel is this interpreter's ``ipykernel``, named through a kernelspec written to
a temporary directory, so it works in a fresh virtual environment without any
user-level kernelspec and never picks up another Python. ``FLOW_HOME`` is passed on
to the kernel as set (default ``~/.flow``). Exits 0 when every cell ran, 1 with a
one-line reason when a cell failed, 2 when the notebook cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_KERNEL_NAME = "flow-notebook-python"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the notebook named on the command line.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        The process exit status.
    """
    args = _parser().parse_args(argv)
    import nbformat

    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.notebook}: {exc}", file=sys.stderr)
        return 2
    failure = execute(notebook, args.notebook.resolve().parent, timeout=args.timeout)
    if args.inplace:
        nbformat.write(notebook, args.notebook)
    if failure:
        print(failure, file=sys.stderr)
        return 1
    print(f"\nall cells ran. Open it in JupyterLab: {_jupyter_command()} lab {args.notebook}")
    return 0


def execute(notebook: Any, cwd: Path, *, timeout: float = 300.0) -> str | None:
    """Executes ``notebook`` in place, printing each cell as it completes.

    Args:
        notebook: An ``nbformat`` notebook node; its outputs are replaced.
        cwd: Directory the kernel starts in.
        timeout: Seconds each cell may take.

    Returns:
        ``None`` when every cell ran, else a one-line reason.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    with _kernelspec_dir() as kernel_dir:
        manager = AsyncKernelManager(
            kernel_name=_KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]),
        )
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=int(timeout),
            resources={"metadata": {"path": str(cwd)}},
            on_cell_executed=_print_cell,
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            return f"a cell failed: {exc.ename}: {' '.join(str(exc.evalue).split())}"
        except CellTimeoutError:
            return f"a cell ran longer than {timeout:g} s"
        except DeadKernelError:
            return "the kernel died"
        except RuntimeError as exc:
            # jupyter_client reports a kernel that never became ready this way.
            return f"the kernel did not start: {exc}"
    return None


def _print_cell(cell: Any, cell_index: int, execute_reply: Any = None) -> None:
    count = cell.get("execution_count") or cell_index
    source = cell.source.splitlines() or [""]
    print(f"In [{count}]: {source[0]}")
    for line in source[1:]:
        print(f"{' ' * (len(str(count)) + 3)}...: {line}")
    for output in cell.get("outputs", []):
        text = _output_text(output)
        if text:
            print(text.rstrip("\n"))
    print(flush=True)


def _output_text(output: Any) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return str(output.get("text", ""))
    if kind in ("execute_result", "display_data"):
        return str(output.get("data", {}).get("text/plain", ""))
    if kind == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return ""


@contextmanager
def _kernelspec_dir() -> Iterator[Path]:
    """Yields a directory holding one kernelspec that runs this interpreter's ipykernel."""
    with tempfile.TemporaryDirectory(prefix="flow-kernels-") as root:
        spec_dir = Path(root) / _KERNEL_NAME
        spec_dir.mkdir()
        spec = {
            # Warnings about the loopback TCP transport and shutdown are noise here;
            # errors (a crashing kernel) still reach stderr.
            "argv": [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
                "--IPKernelApp.log_level=ERROR",
            ],
            "display_name": "Python 3 (flow_notebook)",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        yield Path(root)


def _jupyter_command() -> str:
    jupyter = Path(sys.prefix) / "bin" / "jupyter"
    try:
        return os.path.relpath(jupyter) if jupyter.is_relative_to(Path.cwd()) else str(jupyter)
    except ValueError:
        return str(jupyter)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flow_notebook.notebook.run_notebook",
        description="Run a notebook headless and print each cell's text output.",
    )
    parser.add_argument("notebook", type=Path, help="the .ipynb file")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds each cell may take (default 300)"
    )
    parser.add_argument(
        "--inplace", action="store_true", help="write the outputs back into the notebook"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
