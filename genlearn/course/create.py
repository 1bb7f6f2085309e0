"""Create (or update) a course folder for a class: ``genlearn-course setup``.

A course folder holds what nbgrader works on, for the instructors only::

    nbgrader_config.py   the repository's configuration + a block for this course (below)
    solutions/<id>/      the source notebooks (solutions and hidden tests)
    gradebook.db         students (from the roster), assignments and their due dates
    exercises/ submitted/ autograded/ feedback/   made by nbgrader as you go

and next to it the exchange that nbgrader's release / fetch / submit / collect go through
(:mod:`genlearn.course.exchange`): run as root, setup gives every student on the roster who
has a Unix account their own inbound and feedback folder, which no other student can enter.

With an instructors' group the folder is ``root:<group>`` with mode 2770 (the set-group-id
bit makes new files the group's), and nbgrader is told (``groupshared``) to keep group
permissions on what it writes, so several instructors can grade; without one it is 0700.
Students get no access either way.
"""

from __future__ import annotations

import datetime as dt
import grp
import os
import pwd
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .roster import import_roster

BLOCK_START = "# ---- this course: written by `genlearn-course setup`; rerun it to change this block ----"
BLOCK_END = "# ---- end of the course block ----"


@dataclass
class LatePolicy:
    percent_per_day: float
    max_percent: float = 100.0
    grace_minutes: float = 0.0


@dataclass
class CourseSpec:
    course_dir: Path
    source: Path                      # a checkout of the course: nbgrader_config.py and solutions/
    course_id: str = "genlearn"
    exchange: Path | None = Path("/srv/nbgrader/exchange")  # None: another exchange (ngshare) is configured elsewhere
    assignments: list = field(default_factory=list)   # empty: every assignment in source/solutions
    due: dict = field(default_factory=dict)           # assignment id -> aware datetime
    late: LatePolicy | None = None
    owner: str | None = None          # the instructor who owns the folder (default: whoever runs setup)
    group: str | None = None          # the instructors' Unix group
    timeout: int | None = None        # the cell timeout, if the course wants another than the repo's


def parse_due(text: str) -> tuple[str, dt.datetime]:
    """``ex01_likelihood=2027-01-15T23:59+01:00`` -> ("ex01_likelihood", aware datetime)."""
    aid, sep, when = text.partition("=")
    if not sep or not aid:
        raise ValueError(f"expected ASSIGNMENT=DATE-TIME (e.g. ex01_likelihood=2027-01-15T23:59+01:00), got {text!r}")
    try:
        moment = dt.datetime.fromisoformat(when.strip())
    except ValueError:
        raise ValueError(f"due date of {aid}: expected an ISO 8601 date and time such as "
                         f"2027-01-15T23:59+01:00, got {when!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"due date of {aid}: give a time zone ({when!r} has none), "
                         "e.g. 2027-01-15T23:59+01:00 or 2027-01-15T22:59Z")
    return aid.strip(), moment


def source_assignments(source: Path) -> list[str]:
    found = sorted(p.name for p in (source / "solutions").glob("ex[0-9][0-9]_*") if p.is_dir())
    if not found:
        raise FileNotFoundError(f"no assignments under {source / 'solutions'} (expected solutions/exNN_name/)")
    return found


def config_block(spec: CourseSpec) -> str:
    lines = [BLOCK_START,
             f"c.CourseDirectory.course_id = {spec.course_id!r}"]
    if spec.exchange is not None:
        lines.append(f"c.Exchange.root = {str(spec.exchange)!r}")
    if spec.group:
        lines.append("c.CourseDirectory.groupshared = True  # instructors share the folder through their group")
    if spec.timeout:
        lines.append(f"c.ExecutePreprocessor.timeout = {int(spec.timeout)}")
    if spec.late:
        lines += ['c.AssignLatePenalties.plugin_class = "genlearn.course.late.PerDayPenalty"',
                  f"c.PerDayPenalty.percent_per_day = {float(spec.late.percent_per_day)!r}",
                  f"c.PerDayPenalty.max_percent = {float(spec.late.max_percent)!r}",
                  f"c.PerDayPenalty.grace_minutes = {float(spec.late.grace_minutes)!r}"]
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


def write_config(spec: CourseSpec) -> Path:
    """The repository's nbgrader_config.py, then this course's block (replaced on every run)."""
    base = (spec.source / "nbgrader_config.py").read_text()
    if BLOCK_START in base:  # the source is itself a course folder: drop its block
        base = base.split(BLOCK_START)[0].rstrip() + "\n"
    path = spec.course_dir / "nbgrader_config.py"
    path.write_text(base.rstrip() + "\n\n" + config_block(spec))
    return path


def _folder(path: Path, mode: int, uid: int = -1, gid: int = -1) -> bool:
    """Make ``path`` a real folder with this owner and mode (root: whatever was there before);
    returns whether it was created."""
    made = False
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        if os.geteuid() != 0:
            raise PermissionError(f"{path} is not a folder: remove it (as its owner) and rerun setup")
        path.rename(path.with_name(f".{path.name}.planted-{os.getpid()}"))  # kept for the instructor to look at
    if not path.exists():
        path.mkdir()
        made = True
    if os.geteuid() == 0:
        os.lchown(path, uid, gid)
    try:
        os.chmod(path, mode)
    except PermissionError:
        if made:
            raise
    return made


def make_exchange(root: Path, course_id: str, gid: int = -1, students=()) -> dict:
    """The course's exchange (genlearn.course.exchange): ``<root>/<course>/{outbound,inbound,feedback}``
    and, as root, each student's own inbound and feedback folder (theirs, group: the instructors).

    Without root the inbound folder is left open (sticky) for students to make their own folder
    on first submit; ``collect`` then refuses a folder someone else made."""
    from . import exchange as ex

    am_root = os.geteuid() == 0
    root.mkdir(parents=True, exist_ok=True)
    if am_root:
        os.chown(root, 0, 0)
        os.chmod(root, 0o755)  # everyone passes through; nobody but root adds courses
    course = root / course_id
    inbound_mode = ex.INBOUND_MODE if am_root else ex.OPEN_INBOUND_MODE
    for path, mode in ((course, ex.COURSE_MODE), (course / "outbound", ex.OUTBOUND_MODE),
                       (course / "inbound", inbound_mode), (course / "feedback", ex.FEEDBACK_MODE)):
        _folder(path, mode, 0, gid)
    made, no_account = [], []
    if am_root:
        for sid in students:
            try:
                uid = pwd.getpwnam(sid).pw_uid
            except KeyError:
                no_account.append(sid)
                continue
            _folder(course / "inbound" / sid, ex.STUDENT_INBOUND_MODE, uid, gid)
            _folder(course / "feedback" / sid, ex.STUDENT_FEEDBACK_MODE, uid, gid)
            made.append(sid)
    return {"root": str(root), "student_folders": len(made), "students_without_account": no_account,
            "private": am_root}


def ensure_alembic_on_path() -> None:
    """nbgrader shells out to ``alembic`` (installed beside this Python) when it creates a gradebook."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _own(paths, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    """chown (-1 keeps) and chmod what setup made: folders ``dir_mode``, files ``file_mode``.
    Links are never followed; nothing setup did not make is touched."""
    for top in paths:
        walk = os.walk(top) if os.path.isdir(top) and not os.path.islink(top) else [(None, [], [top])]
        for folder, _, files in walk:
            for name in ([folder] if folder else []) + [os.path.join(folder or "", f) for f in files]:
                if os.path.islink(name):
                    continue
                if uid != -1 or gid != -1:
                    os.chown(name, uid, gid)
                os.chmod(name, dir_mode if os.path.isdir(name) else file_mode)


def create_course(spec: CourseSpec, students=()) -> dict:
    """Create or update the course folder, its exchange and gradebook; return what was done.

    Modes and owners are set on what this call creates (the folder when new, its
    configuration, copied solutions, a new gradebook), never on files already there: pointed
    at a checkout, it leaves the checkout's files as they are."""
    spec.course_dir = Path(spec.course_dir).resolve()
    spec.source = Path(spec.source).resolve()
    available = source_assignments(spec.source)
    assignments = spec.assignments or available
    unknown = sorted(set(assignments) - set(available)) or sorted(set(spec.due) - set(assignments))
    if unknown:
        raise ValueError(f"unknown assignment(s) {', '.join(unknown)}: expected one of {', '.join(assignments)}")
    uid = pwd.getpwnam(spec.owner).pw_uid if spec.owner else -1
    gid = grp.getgrnam(spec.group).gr_gid if spec.group else -1

    made = []  # what this call creates: only these get the course's owner and modes
    copied = _course_files(spec, assignments, made)
    db_url, imported = _gradebook(spec, assignments, students, made)
    exchange = None
    if spec.exchange is not None:
        from nbgrader.api import Gradebook

        with Gradebook(db_url, spec.course_id) as gb:
            everyone = sorted(s.id for s in gb.students)
        exchange_gid = gid if gid != -1 else (pwd.getpwnam(spec.owner).pw_gid if spec.owner else os.getegid())
        exchange = make_exchange(spec.exchange, spec.course_id, exchange_gid, everyone)
    if spec.group:
        _own(made, uid, gid, 0o2770, 0o660)
    else:
        _own(made, uid, gid, 0o700, 0o600)
    return {"course_dir": str(spec.course_dir), "exchange": str(spec.exchange) if spec.exchange else None,
            "assignments": assignments, "copied": copied, "students": imported, "db_url": db_url,
            "exchange_folders": exchange, "warnings": _setup_warnings(spec, made, exchange),
            "due": {a: _utc(d).isoformat() + "Z" for a, d in spec.due.items()}}


def _course_files(spec: CourseSpec, assignments: list[str], made: list) -> list[str]:
    """The course folder, its ``nbgrader_config.py`` and the solutions not there yet (an
    instructor's edits are never overwritten); what is new goes into ``made``; returns the
    assignments copied."""
    if not spec.course_dir.exists():
        spec.course_dir.mkdir(parents=True)
        made.append(spec.course_dir)
    config = spec.course_dir / "nbgrader_config.py"
    new_config = not config.exists()
    write_config(spec)
    if new_config:
        made.append(config)
    copied = []
    for aid in assignments:
        dest = spec.course_dir / "solutions" / aid
        if not dest.exists():
            if not dest.parent.exists():
                dest.parent.mkdir()
                made.append(dest.parent)
            shutil.copytree(spec.source / "solutions" / aid, dest)
            copied.append(aid)
            made.append(dest)
    return copied


def _gradebook(spec: CourseSpec, assignments: list[str], students, made: list) -> tuple[str, int]:
    """The gradebook (into ``made`` when new) with every assignment and its due date (a rerun
    without ``--due`` keeps the date already set) and the roster; returns (db_url, students imported)."""
    from nbgrader.api import Gradebook

    ensure_alembic_on_path()
    db = spec.course_dir / "gradebook.db"
    if not db.exists():
        made.append(db)
    db_url = f"sqlite:///{db}"
    with Gradebook(db_url, spec.course_id) as gb:
        for aid in assignments:
            gb.update_or_create_assignment(aid, **({"duedate": _utc(spec.due[aid])} if aid in spec.due else {}))
    return db_url, import_roster(db_url, students, spec.course_id) if students else 0


def _setup_warnings(spec: CourseSpec, made: list, exchange: dict | None) -> list[str]:
    """What the instructor should fix by hand: a course folder others may enter, students
    without a Unix account (so without an exchange folder)."""
    warnings = []
    if spec.course_dir not in made and stat.S_IMODE(spec.course_dir.stat().st_mode) & 0o007:
        warnings.append(f"{spec.course_dir} existed and other users may enter it (mode "
                        f"{stat.S_IMODE(spec.course_dir.stat().st_mode):o}); setup left it as it was: "
                        f"chmod o-rwx it if it holds solutions/ or the gradebook")
    if exchange and exchange["students_without_account"]:
        warnings.append("no Unix account, so no exchange folder, for: " + ", ".join(exchange["students_without_account"])
                        + " (run `genlearn-course accounts`, then setup again)")
    return warnings


def _utc(moment: dt.datetime) -> dt.datetime:
    """nbgrader stores naive UTC datetimes."""
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)

