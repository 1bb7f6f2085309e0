"""Autograde a whole class with N workers, through the course's own nbgrader configuration.

Each submission is graded by its own ``nbgrader autograde <assignment> --student <id>``,
run in the course folder, so everything the course's ``nbgrader_config.py`` sets up (the
cell timeout, the late-penalty plugin, a grading sandbox) applies exactly as it does to a
plain ``nbgrader autograde``. N of those run at a time.

The gradebook is one SQLite file that all of them write. What keeps it whole:

- it is created, and the assignment and every student put in it, *before* any worker
  starts: workers never race to create tables or the same student;
- each worker's connection waits up to ``busy_timeout`` seconds for another's write
  (SQLite's default, 5 s, is short for a loaded machine): the course's own ``db_url`` with
  ``?timeout=`` added, passed on the command line;
- a run that still fails with "database is locked" is graded again (``--force``), up to
  ``retries`` times;
- at the end every submission is looked up in the gradebook: a student whose submission
  has no graded row is reported as lost, and the command exits non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .config import load_course, nbgrader_env

LOCKED = "database is locked"


@dataclass
class Graded:
    student: str
    ok: bool
    seconds: float
    attempts: int
    locked: int = 0            # attempts that failed with "database is locked"
    log: str = ""


@dataclass
class ClassRun:
    assignment: str
    workers: int
    seconds: float
    results: list = field(default_factory=list)
    rows: int = 0              # submissions of this assignment in the gradebook afterwards
    lost: list = field(default_factory=list)  # graded here, but no autograded row in the gradebook

    @property
    def failed(self) -> list:
        return [r.student for r in self.results if not r.ok]

    def summary(self) -> dict:
        n = len(self.results)
        return {"assignment": self.assignment, "workers": self.workers, "submissions": n,
                "seconds": round(self.seconds, 1), "seconds_per_submission": round(self.seconds / max(n, 1), 2),
                "failed": self.failed, "lost": self.lost, "rows": self.rows,
                "locked_retries": sum(r.locked for r in self.results)}


def submitted_students(coursedir, assignment: str) -> list[str]:
    root = Path(coursedir.root) / coursedir.submitted_directory
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir())


def _with_busy_timeout(db_url: str, seconds: float) -> str:
    if db_url.startswith("sqlite:///") and "?" not in db_url:
        return f"{db_url}?timeout={seconds:g}"
    return db_url


def prepare_gradebook(coursedir, assignment: str, students) -> None:
    """Create the gradebook's tables and every student's row before the workers start."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise RuntimeError(f"{assignment} is not in the gradebook {coursedir.db_url}: run "
                               f"`nbgrader generate_assignment {assignment}` in the course folder first") from None
        known = {s.id for s in gb.students}
        for sid in students:
            if sid not in known:
                gb.add_student(sid)


def _grade_one(course_dir: Path, assignment: str, student: str, db_url: str, force: bool,
               retries: int, timeout: float, env: dict, stop: threading.Event) -> Graded:
    start, attempts, locked, log = time.perf_counter(), 0, 0, ""
    while attempts <= retries and not stop.is_set():
        attempts += 1
        cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student,
               f"--CourseDirectory.db_url={db_url}"]
        if force or attempts > 1:
            cmd.append("--force")
        proc = subprocess.Popen(cmd, cwd=course_dir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log = (proc.communicate()[0] or "") + f"\n[genlearn-course] killed after {timeout:g} s"
        if proc.returncode == 0:
            return Graded(student, True, time.perf_counter() - start, attempts, locked, log)
        if LOCKED not in log:
            break
        locked += 1
    return Graded(student, False, time.perf_counter() - start, attempts, locked, log)


def verify(coursedir, assignment: str, students) -> tuple[int, list]:
    """(rows of this assignment in the gradebook, students without an autograded submission)."""
    from nbgrader.api import Gradebook, MissingEntry, SubmittedAssignment, Assignment

    lost = []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        rows = (gb.db.query(SubmittedAssignment).join(Assignment)
                .filter(Assignment.name == assignment).count())
        for sid in students:
            try:
                sub = gb.find_submission(assignment, sid)
            except MissingEntry:
                lost.append(sid)
                continue
            grades = [g for nb in sub.notebooks for g in nb.grades if g.cell.cell_type == "code"]
            if not grades or any(g.auto_score is None for g in grades):
                lost.append(sid)
    return rows, lost


def autograde_class(course_dir, assignment: str, students=None, workers: int = 2, force: bool = False,
                    retries: int = 2, busy_timeout: float = 60.0, timeout: float = 1800.0,
                    log_dir=None, progress=None) -> ClassRun:
    """Grade every submission of ``assignment`` (or ``students``) with ``workers`` at a time."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    course_dir = Path(course_dir).resolve()
    _, coursedir = load_course(course_dir)
    students = sorted(students) if students else submitted_students(coursedir, assignment)
    if not students:
        raise FileNotFoundError(f"no submissions of {assignment} under "
                                f"{Path(coursedir.root) / coursedir.submitted_directory} (run `nbgrader collect` first)")
    prepare_gradebook(coursedir, assignment, students)
    db_url = _with_busy_timeout(coursedir.db_url, busy_timeout)
    env = nbgrader_env()
    log_dir = Path(log_dir) if log_dir else course_dir / "logs" / "autograde" / assignment
    log_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    run = ClassRun(assignment, workers, 0.0)
    start = time.perf_counter()

    def task(sid):
        result = _grade_one(course_dir, assignment, sid, db_url, force, retries, timeout, env, stop)
        (log_dir / f"{sid}.log").write_text(result.log)
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            run.results = list(pool.map(task, students))
        except BaseException:
            stop.set()  # Ctrl-C: finish the submissions in flight, start no more
            raise
    run.seconds = time.perf_counter() - start
    run.rows, lost = verify(coursedir, assignment, students)
    failed = set(run.failed)
    run.lost = [sid for sid in lost if sid not in failed]
    return run
