"""A class roster: one CSV row per student, ``id,first_name,last_name,email`` (and, optionally,
``lms_user_id``: the id Canvas or Moodle shows for the student when it is neither the user name
nor the e-mail, e.g. a numeric SIS id; the grade export matches on it).

``id`` is the student's user name: nbgrader knows students by it and, on a JupyterHub, it is
also their Unix account. So it must be a valid Unix user name (lower case letters, digits,
``_`` and ``-``, starting with a letter or ``_``, at most 32 characters).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("id", "first_name", "last_name", "email")
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str
    last_name: str
    email: str
    lms_user_id: str = ""


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file, the line and what was expected."""


def read_roster(path) -> list[Student]:
    """Read and check a roster CSV. Raises :class:`RosterError` on the first problem found."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often add a BOM
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise RosterError(f"{path}: expected the columns {','.join(COLUMNS)}; "
                              f"missing {', '.join(missing)} (the header reads {','.join(header) or 'nothing'})")
        students, seen = [], {}
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(row.values()):
                continue
            sid = row["id"]
            if not USER_NAME.fullmatch(sid):
                raise RosterError(f"{path}:{line}: id {sid!r} is not a valid user name "
                                  "(lower case letters, digits, '_' or '-', starting with a letter or '_', "
                                  "at most 32 characters)")
            if sid in seen:
                raise RosterError(f"{path}:{line}: id {sid!r} is already on line {seen[sid]}")
            if row["email"] and not EMAIL.fullmatch(row["email"]):
                raise RosterError(f"{path}:{line}: email {row['email']!r} of {sid} is not an e-mail address")
            seen[sid] = line
            students.append(Student(sid, row["first_name"], row["last_name"], row["email"], row.get("lms_user_id", "")))
    if not students:
        raise RosterError(f"{path}: no students (expected a header {','.join(COLUMNS)} and one row per student)")
    return students


def import_roster(db_url: str, students, course_id: str) -> int:
    """Add or update each student in the nbgrader gradebook at ``db_url``; returns how many."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        for s in students:
            gb.update_or_create_student(s.id, first_name=s.first_name, last_name=s.last_name,
                                        email=s.email or None, lms_user_id=s.lms_user_id or None)
    return len(students)
