"""Write ``classroom/walkthrough.ipynb`` from ``classroom/walkthrough.py`` and run it, so the
notebook carries its outputs (pictures, tables) for students who open it without running it.

The script is the source: edit ``walkthrough.py``, then run

    python classroom/build_notebook.py            # full walkthrough (a few minutes on a laptop CPU)
    python classroom/build_notebook.py --quick    # shortened training (what CI executes)

Jupytext turns the ``# %%`` cells into notebook cells; nbclient runs them in a fresh
``python3`` kernel with ``classroom/`` as its working directory (pictures go to
``classroom/output/``). ``tests/test_classroom.py`` fails when the two files drift apart.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "walkthrough.py"
NOTEBOOK = HERE / "walkthrough.ipynb"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def notebook_from_script(script: Path = SCRIPT):
    """The script's cells as an (unexecuted) notebook."""
    import jupytext

    notebook = jupytext.read(script, fmt="py:percent")
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata.pop("jupytext", None)
    return notebook


def execute(notebook, workdir: Path = HERE, timeout_s: int = 1800):
    """Run every cell in a fresh kernel (working directory ``workdir``); the notebook gains its outputs."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def cell_sources(notebook) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what must agree between script and notebook."""
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def main() -> None:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shortened training (CLASSROOM_QUICK=1)")
    args = parser.parse_args()
    if args.quick:
        os.environ["CLASSROOM_QUICK"] = "1"
    notebook = execute(notebook_from_script())
    for cell in notebook.cells:  # execution times and ids change on every run: keep the diff small
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, NOTEBOOK)
    print("wrote", NOTEBOOK)


if __name__ == "__main__":
    main()
