"""Execute a notebook the way a student's kernel would: its own kernel, its folder as cwd."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 600, workdir: Path | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``path`` in a temporary copy of its folder; return the executed
    notebook and the wall time. A failing cell raises ``nbclient.exceptions.CellExecutionError``."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp) / path.parent.name
        shutil.copytree(path.parent, work, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"))
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(work)}})
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start


def outputs(nb, output_type: str | None = None, mime: str | None = None) -> list:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if output_type and out.get("output_type") != output_type:
                continue
            if mime and mime not in out.get("data", {}):
                continue
            found.append(out)
    return found
