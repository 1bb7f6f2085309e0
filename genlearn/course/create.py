"""Create (or update) a course folder for a class: ``genlearn-course setup``.

A course folder holds what nbgrader works on, for the instructors only::

    nbgrader_config.py   the repository's configuration + a block for this course (below)
    solutions/<id>/      the source notebooks (solutions and hidden tests)
    gradebook.db         students (from the roster), assignments and their due dates
    exercises/ submitted/ autograded/ feedback/   made by nbgrader as you go

and next to it the exchange, the shared folder that nbgrader's release / fetch / submit /
collect go through (mode 1777: everyone may create entries, nobody may remove another's).

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
EXCHANGE_MODE = 0o1777  # world-writable and sticky: students add submissions, never remove others'


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


def make_exchange(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(root.stat().st_mode)
    if mode != EXCHANGE_MODE:
        try:
            os.chmod(root, EXCHANGE_MODE)
        except PermissionError:
            raise PermissionError(f"the exchange {root} has mode {mode:o}, nbgrader needs 1777: "
                                  f"run `chmod 1777 {root}` as its owner or root") from None


def _own(path: Path, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    """chown (-1 keeps) and chmod a whole tree: folders ``dir_mode``, files ``file_mode``."""
    for top, _, files in os.walk(path):
        for name in [top, *(os.path.join(top, f) for f in files)]:
            if uid != -1 or gid != -1:
                os.chown(name, uid, gid)
            os.chmod(name, dir_mode if name == top else file_mode)


def ensure_alembic_on_path() -> None:
    """nbgrader shells out to ``alembic`` (installed beside this Python) when it creates a gradebook."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def create_course(spec: CourseSpec, students=()) -> dict:
    """Create or update the course folder, its exchange and gradebook; return what was done."""
    spec.course_dir = Path(spec.course_dir).resolve()
    spec.source = Path(spec.source).resolve()
    available = source_assignments(spec.source)
    assignments = spec.assignments or available
    unknown = sorted(set(assignments) - set(available)) or sorted(set(spec.due) - set(assignments))
    if unknown:
        raise ValueError(f"unknown assignment(s) {', '.join(unknown)}: expected one of {', '.join(assignments)}")
    uid = pwd.getpwnam(spec.owner).pw_uid if spec.owner else -1
    gid = grp.getgrnam(spec.group).gr_gid if spec.group else -1

    spec.course_dir.mkdir(parents=True, exist_ok=True)
    write_config(spec)
    copied = []
    for aid in assignments:
        dest = spec.course_dir / "solutions" / aid
        if not dest.exists():  # never overwrite an instructor's edits
            shutil.copytree(spec.source / "solutions" / aid, dest)
            copied.append(aid)
    if spec.exchange is not None:
        make_exchange(spec.exchange)

    from nbgrader.api import Gradebook

    ensure_alembic_on_path()
    db_url = f"sqlite:///{spec.course_dir / 'gradebook.db'}"
    with Gradebook(db_url, spec.course_id) as gb:
        for aid in assignments:  # a rerun without --due keeps the date already set
            gb.update_or_create_assignment(aid, **({"duedate": _utc(spec.due[aid])} if aid in spec.due else {}))
    imported = import_roster(db_url, students, spec.course_id) if students else 0

    if spec.group:
        _own(spec.course_dir, uid, gid, 0o2770, 0o660)
    else:
        _own(spec.course_dir, uid, gid, 0o700, 0o600)
    return {"course_dir": str(spec.course_dir), "exchange": str(spec.exchange) if spec.exchange else None, "assignments": assignments,
            "copied": copied, "students": imported, "db_url": db_url,
            "due": {a: _utc(d).isoformat() + "Z" for a, d in spec.due.items()}}


def _utc(moment: dt.datetime) -> dt.datetime:
    """nbgrader stores naive UTC datetimes."""
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)

