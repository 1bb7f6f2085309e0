"""Autograde a whole class with N workers, through the course's own nbgrader configuration.

Two ways to run a worker, both in the course folder with the configuration ``nbgrader``
itself would read there (the course's ``nbgrader_config.py`` and the system's), so what it
sets up (the cell timeout, the late-penalty plugin, a grading sandbox) applies as it does
to a plain ``nbgrader autograde``:

- ``api`` (default): N long-lived worker processes, each loading that configuration once and
  grading one submission after another with nbgrader's own API (``NbGraderAPI.autograde``,
  what formgrader calls). Saves the ~4 s of CPU that starting the ``nbgrader`` command
  costs per submission.
- ``cli``: one ``nbgrader autograde <assignment> --student <id>`` per submission.

Either way every notebook runs in a fresh kernel, as nbgrader always does; a submission that
hangs past ``timeout`` is killed with its worker, which is replaced.

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

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .._checks import check_choice, check_positive_int
from .._cpus import cpu_quota
from .config import load_course, nbgrader_env

LOCKED = "database is locked"
THREAD_VARS = ("GENLEARN_NUM_THREADS", "OMP_NUM_THREADS")
# What one worker plans for when the workers are chosen for the instructor: its nbgrader process,
# its kernel template and a submission's two kernels. Measured while grading ex03 with 3 workers:
# about 0.65 GB each, proportional set size (shared pages counted once); benchmarks/README.md,
# "Workers chosen by the CPUs, imports on first use".
WORKER_MEMORY = 2**30


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
    mode: str = "api"
    broken: dict = field(default_factory=dict)  # student -> why their upload is not a notebook (0, not graded)
    workers_chosen: str = ""   # how the workers were chosen, when the caller did not say

    @property
    def failed(self) -> list:
        return [r.student for r in self.results if not r.ok]

    def summary(self) -> dict:
        n = len(self.results)
        return {"assignment": self.assignment, "workers": self.workers, "mode": self.mode, "submissions": n,
                "seconds": round(self.seconds, 1), "seconds_per_submission": round(self.seconds / max(n, 1), 2),
                "failed": self.failed, "lost": self.lost, "rows": self.rows, "broken": self.broken,
                "locked_retries": sum(r.locked for r in self.results)} | (
                    {"workers_chosen": self.workers_chosen} if self.workers_chosen else {})


def submitted_students(coursedir, assignment: str) -> list[str]:
    root = Path(coursedir.root) / coursedir.submitted_directory
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir())


def broken_notebook(folder: Path) -> str | None:
    """Why a submission cannot be graded at all (no notebook, or one that is not a notebook), or None.

    nbgrader would stop on it with a long traceback and no feedback; the class's run reports it
    in one line and the student scores 0 for the assignment (no submission in the gradebook)."""
    import nbformat

    if not folder.is_dir():
        return f"no submission folder {folder}"
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        return f"no notebook in the submission (files: {', '.join(sorted(p.name for p in folder.iterdir())) or 'none'})"
    for path in notebooks:
        try:
            nb = nbformat.read(str(path), as_version=4)
            nbformat.validate(nb)
        except Exception as exc:  # JSON, schema or encoding: all mean "not a notebook"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"{path.name} is not a valid notebook ({type(exc).__name__}: {first[:200]})"
    return None


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


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class CliGrader:
    """One ``nbgrader autograde --student`` command per submission; each command's output is
    appended to ``log_path`` (the worker's log, as an ``api`` worker's output is)."""

    def __init__(self, course_dir: Path, assignment: str, db_url: str, env: dict, log_path: Path):
        self.args, self.log_path = (course_dir, assignment, db_url, env), Path(log_path)

    def grade(self, student: str, force: bool, timeout: float) -> tuple[bool, str]:
        course_dir, assignment, db_url, env = self.args
        cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student,
               f"--CourseDirectory.db_url={db_url}"] + (["--force"] if force else [])
        proc = subprocess.Popen(cmd, cwd=course_dir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            log = f"[genlearn-course] killed after {timeout:g} s (log: {self.log_path})"
            self._append(student, log + "\n")
            return False, log
        self._append(student, log)
        return proc.returncode == 0, log

    def _append(self, student: str, log: str) -> None:
        with self.log_path.open("a") as f:
            f.write(f"[genlearn-course] nbgrader autograde --student {student}\n{log}")

    def close(self) -> None:
        pass


class ApiGrader:
    """A long-lived worker process (``python -m genlearn.course.parallel``) that loads the
    course's configuration once and grades the student ids it is sent, one JSON line back each."""

    def __init__(self, course_dir: Path, assignment: str, db_url: str, env: dict, log_path: Path):
        self.args, self.log_path, self.proc = (course_dir, assignment, db_url, env), log_path, None

    def _start(self) -> None:
        course_dir, assignment, db_url, env = self.args
        self.proc = subprocess.Popen([sys.executable, "-m", "genlearn.course.parallel", assignment, db_url],
                                     cwd=course_dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log_path.open("a"), text=True, start_new_session=True)
        if self._read(300).get("ready") is not True:
            raise RuntimeError(f"the grading worker did not start; see {self.log_path}")

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise TimeoutError
        return json.loads(line)

    def grade(self, student: str, force: bool, timeout: float) -> tuple[bool, str]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps({"student": student, "force": force}) + "\n")
        self.proc.stdin.flush()
        try:
            reply = self._read(timeout)
        except (TimeoutError, ValueError):
            _kill(self.proc)  # the worker and the kernel it started; a new worker takes over
            return False, f"[genlearn-course] no result after {timeout:g} s: worker killed (log: {self.log_path})"
        return reply["ok"], reply["log"]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                _kill(self.proc)


GRADERS = {"api": ApiGrader, "cli": CliGrader}


def _grade_one(grader, student: str, force: bool, retries: int, timeout: float,
               stop: threading.Event) -> Graded:
    start, attempts, locked, log = time.perf_counter(), 0, 0, ""
    while attempts <= retries and not stop.is_set():
        attempts += 1
        ok, log = grader.grade(student, force or attempts > 1, timeout)
        if ok:
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


def kernel_threads(env: dict, workers: int, quota: int | None = None) -> dict[str, str]:
    """``env`` with each grading kernel's CPU threads fixed: the CPU quota shared out among the
    ``workers`` (at least 1 each).

    Left to itself, a kernel chooses its threads from the load it sees, so two workers could
    each choose every core (torch's threads then stall each other: 2-5x slower, per
    benchmarks/README.md) and a submission's training tests ran with whatever count the
    machine's load gave them that second. Fixed, the workers share the cores and the same
    submission is graded with the same arithmetic however busy the machine is. A count the
    instructor set (``GENLEARN_NUM_THREADS`` or ``OMP_NUM_THREADS``) is kept as it is.
    """
    if any(var in env for var in THREAD_VARS):
        return dict(env)
    n = max(1, (cpu_quota() if quota is None else quota) // workers)
    return {**env, **{var: str(n) for var in THREAD_VARS}}


def available_memory(meminfo: Path | str = "/proc/meminfo", cgroup_root: Path | str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process's cgroup and the machine can still give (the smaller), or None if unknown.

    ``MemAvailable`` is the machine's; inside a container the cgroup's ``memory.max`` less its
    ``memory.current`` is often much less."""
    found = []
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (Path(cgroup_root) / "memory.max").read_text().strip()
        if limit != "max":
            found.append(max(0, int(limit) - int((Path(cgroup_root) / "memory.current").read_text())))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def default_workers(quota: int | None = None, memory: int | None = None) -> tuple[int, str]:
    """How many submissions to grade at once when the instructor does not say, and why.

    One per CPU, plus one: a submission's two kernels take turns (the grader's cell waits while
    the student's kernel runs the function it called, and back), so one worker per CPU left
    the CPUs about 10% idle; a third worker on two CPUs graded 200 submissions of ex03 in
    9.7 min against 10.3 (benchmarks/README.md). As many as the memory still free allows, at
    ``WORKER_MEMORY`` each, and at least one."""
    cpus = cpu_quota() if quota is None else quota
    memory = available_memory() if memory is None else memory
    n, why = cpus + 1, f"{cpus} CPU{'s' if cpus != 1 else ''} + 1"
    if memory is not None and memory // WORKER_MEMORY < n:
        n = max(1, memory // WORKER_MEMORY)
        why += f", fewer for the memory free ({memory / 2**30:.1f} GiB, {WORKER_MEMORY / 2**30:g} GiB a worker)"
    return n, why


def autograde_class(course_dir, assignment: str, students=None, workers: int | None = None, force: bool = False,
                    retries: int = 2, busy_timeout: float = 60.0, timeout: float = 1800.0,
                    log_dir=None, progress=None, mode: str = "api") -> ClassRun:
    """Grade every submission of ``assignment`` (or ``students``) with ``workers`` at a time
    (None: :func:`default_workers`)."""
    chosen = ""
    if workers is None:
        workers, chosen = default_workers()
    workers = check_positive_int("workers", workers)
    check_choice("mode", mode, tuple(GRADERS))
    course_dir = Path(course_dir).resolve()
    _, coursedir = load_course(course_dir)
    students = sorted(students) if students else submitted_students(coursedir, assignment)
    if not students:
        raise FileNotFoundError(f"no submissions of {assignment} under "
                                f"{Path(coursedir.root) / coursedir.submitted_directory} (run `nbgrader collect` first)")
    root = Path(coursedir.root) / coursedir.submitted_directory
    broken = {sid: why for sid in students if (why := broken_notebook(root / sid / assignment))}
    students = [sid for sid in students if sid not in broken]
    prepare_gradebook(coursedir, assignment, students)
    db_url = _with_busy_timeout(coursedir.db_url, busy_timeout)
    env = kernel_threads(nbgrader_env(), workers)
    log_dir = Path(log_dir) if log_dir else course_dir / "logs" / "autograde" / assignment
    (log_dir / "workers").mkdir(parents=True, exist_ok=True)
    stop, local, graders, numbers = threading.Event(), threading.local(), [], itertools.count()
    run = ClassRun(assignment, workers, 0.0, mode=mode, broken=broken, workers_chosen=chosen)
    for sid, why in broken.items():
        (log_dir / f"{sid}.log").write_text(f"BROKEN: {why}\n")
        if progress:
            progress(Graded(sid, False, 0.0, 0, log=f"BROKEN: {why}"))
    start = time.perf_counter()

    def task(sid):
        if not hasattr(local, "grader"):  # one grader (worker process) per pool thread
            local.grader = GRADERS[mode](course_dir, assignment, db_url, env, log_dir / "workers" / f"worker-{next(numbers)}.log")
            graders.append(local.grader)
        result = _grade_one(local.grader, sid, force, retries, timeout, stop)
        (log_dir / f"{sid}.log").write_text(result.log)
        if progress:
            progress(result)
        return result

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                run.results = list(pool.map(task, students))
            except BaseException:
                stop.set()  # Ctrl-C: finish the submissions in flight, start no more
                raise
    finally:
        for grader in graders:
            grader.close()
    run.seconds = time.perf_counter() - start
    run.rows, lost = verify(coursedir, assignment, students)
    failed = set(run.failed)
    run.lost = [sid for sid in lost if sid not in failed]
    return run


def _worker(assignment: str, db_url: str) -> None:
    """The ``api`` worker: run in the course folder; reads {"student", "force"} lines on stdin."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.coursedir import CourseDirectory

    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else prints goes to the worker's log, not into the replies
    app = NbGrader()
    app.initialize([])  # the course's nbgrader_config.py and the system's, as `nbgrader` reads them
    config = app.config
    config.CourseDirectory.db_url = db_url
    coursedir = CourseDirectory(config=config)
    _ = coursedir.root
    api = NbGraderAPI(coursedir=coursedir, config=config)
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        job = json.loads(line)
        result = api.autograde(assignment, job["student"], force=job["force"], create=True)
        log = (result.get("log") or "") + (result.get("error") or "")
        replies.write(json.dumps({"ok": bool(result["success"]), "log": log}) + "\n")
        replies.flush()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
