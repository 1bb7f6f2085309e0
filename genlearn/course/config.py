"""The course's own nbgrader configuration, loaded the way the ``nbgrader`` command loads it."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def nbgrader_env(base: dict | None = None) -> dict:
    """An environment for running nbgrader: this Python's ``bin/`` first on PATH (nbgrader shells
    out to ``alembic`` when it creates a gradebook)."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def load_course(course_dir):
    """(config, CourseDirectory) for a course folder: its nbgrader_config.py together with the
    system and user ones, as ``nbgrader`` run in that folder would read them."""
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.coursedir import CourseDirectory

    course_dir = Path(course_dir).resolve()
    if not (course_dir / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{course_dir} is not a course folder: it has no nbgrader_config.py "
                                "(create one with `genlearn-course setup`)")
    with _cwd(course_dir):
        app = NbGrader()
        app.initialize([])
        config = app.config
        coursedir = CourseDirectory(config=config)
        _ = coursedir.root, coursedir.db_url  # traitlets computes defaults lazily: do it in the folder
    app.clear_instance()
    os.environ["PATH"] = nbgrader_env()["PATH"]
    return config, coursedir
