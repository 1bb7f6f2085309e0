"""Regenerate ``exercises/`` (the student release) from ``solutions/`` through nbgrader.

The release is never edited by hand: after editing a source notebook in ``solutions/``, run
from the repository root::

    python scripts/release_exercises.py            # all assignments
    python scripts/release_exercises.py ex02_vae   # one

It runs ``nbgrader generate_assignment`` in a temporary copy of the course, so no gradebook
or working folder is ever written into the repository, then copies the release back into
``exercises/``. ``tests/test_grading.py`` fails while ``exercises/`` is out of step.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE, RELEASE = ROOT / "solutions", ROOT / "exercises"
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir() and re.match(r"ex\d\d_", p.name)) \
    if SOURCE.is_dir() else []


def env() -> dict:
    """The environment for nbgrader: this Python's bin/ first (nbgrader shells out to alembic)."""
    e = dict(os.environ)
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    e.setdefault("PYTHONUNBUFFERED", "1")
    return e


def nbgrader(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real ``nbgrader`` command line in ``cwd`` (it reads nbgrader_config.py from there)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def new_course(dest: Path, assignments=None, extra_config: str = "") -> Path:
    """A throwaway course directory: the repository's nbgrader_config.py and solutions/."""
    dest.mkdir(parents=True, exist_ok=True)
    config = (ROOT / "nbgrader_config.py").read_text() + "\n" + extra_config
    (dest / "nbgrader_config.py").write_text(config)
    for aid in assignments or ASSIGNMENTS:
        shutil.copytree(SOURCE / aid, dest / "solutions" / aid)
    return dest


def generate(course: Path, aid: str) -> Path:
    """``nbgrader generate_assignment`` in ``course``; returns the released notebook's path."""
    proc = nbgrader(["generate_assignment", aid, "--force"], course)
    if proc.returncode != 0:
        raise RuntimeError(f"generate_assignment {aid} failed:\n{proc.stdout}\n{proc.stderr}")
    return course / "exercises" / aid / f"{aid}.ipynb"


def release_all(assignments=None) -> None:
    """Regenerate exercises/ from solutions/ through nbgrader, in a temporary course."""
    unknown = sorted(set(assignments or ()) - set(ASSIGNMENTS))
    if unknown:
        raise SystemExit(f"unknown assignment(s) {', '.join(unknown)}; expected some of: {', '.join(ASSIGNMENTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        course = new_course(Path(tmp) / "course", assignments)
        for aid in assignments or ASSIGNMENTS:
            released = generate(course, aid).parent
            shutil.rmtree(RELEASE / aid, ignore_errors=True)
            shutil.copytree(released, RELEASE / aid)
            print(f"released {aid} -> {(RELEASE / aid).relative_to(ROOT)}")


if __name__ == "__main__":
    release_all(sys.argv[1:] or None)
