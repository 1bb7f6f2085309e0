"""Execute a notebook the way a student's kernel would: its own kernel, its folder as cwd.

CI executes each lesson once: ``.ci/run`` builds the course site in the Colab-pinned
environment, which runs every lesson and keeps each one as executed (``OUT/executed/``), and
points ``GENLEARN_SITE`` at it; :func:`executed_lesson` then reads those notebooks instead of
running the lessons again. Without ``GENLEARN_SITE`` (a developer's ``pytest``) it executes.
"""

from __future__ import annotations

import os
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


class StaleExecution(AssertionError):
    """An executed copy of a lesson that was not run from the lesson as it is now."""


def executed_lesson(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """The lesson at ``path`` executed top to bottom: the copy the site build ran (under
    ``GENLEARN_SITE``), checked to have been run from this very source, or a fresh execution."""
    site = os.environ.get("GENLEARN_SITE")
    if not site:
        return execute(path, timeout)[0]
    from build_site import lesson_digest

    copy = Path(site) / "executed" / path.name
    if not copy.is_file():
        raise StaleExecution(f"GENLEARN_SITE={site} holds no executed copy of {path.name} ({copy}): "
                             "rebuild the site (python scripts/build_site.py OUT) or unset GENLEARN_SITE")
    nb = nbformat.read(copy, as_version=4)
    stamp = nb.metadata.get("genlearn_executed", {}).get("lesson_digest")
    if stamp != lesson_digest(nbformat.read(path, as_version=4)):
        raise StaleExecution(f"{copy} was executed from another version of {path.name}: "
                             "rebuild the site (python scripts/build_site.py OUT) or unset GENLEARN_SITE")
    return nb
