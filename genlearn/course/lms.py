"""Grades out to an LMS (Canvas, Moodle) and submissions in from one (``nbgrader zip_collect``).

Exports
    One row per student, one column per assignment holding the final score: what nbgrader's
    own ``export`` calls ``score`` (auto + manual grades, less any late penalty, never below
    zero; 0 for no submission). Given the LMS's own gradebook export as a template, the rows
    keep the LMS's identity columns and the columns its own headers, so the LMS matches
    students and assignments without a mapping step.

    Canvas (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section`` then one
    column per assignment; the second row, ``Points Possible``, gives each maximum. Canvas
    matches students by its ID, SIS User ID or SIS Login ID; without a template the user
    name goes into both SIS columns. A column named like an existing assignment's export
    header (``ex01_likelihood (12345)``) updates it; a new name creates an assignment.

    Moodle (Grades > Import > CSV file): ``First name, Last name, ID number, Email address``
    then ``Assignment: <id> (Real)`` per assignment. On import, map ``Email address`` to
    the user's e-mail (or ``ID number`` to the ID number) and each column to its grade item.

Archives
    Canvas and Moodle name each downloaded file after the student's *name*, not an id:

    - Canvas "Download Submissions": ``lovelaceada_12345_6789012_ex01_likelihood.ipynb``
      (sortable name, lower case, letters and digits only; ``_LATE`` after it when late; the
      user and submission ids; the uploaded name, with ``-1``, ``-2`` before the extension
      for resubmissions)
    - Moodle "Download all submissions": ``Ada Lovelace_123456_assignsubmission_file_/ex01_likelihood.ipynb``
      (in folders) or ``Ada Lovelace_123456_assignsubmission_file_ex01_likelihood.ipynb``.

    :class:`LMSFileNameCollector` tries each of its ``named_regexps`` (set in
    ``nbgrader_config.py``) and finds the student id from the ``lms_name`` group by matching
    it against the roster in the gradebook, in either name order.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import unicodedata
from dataclasses import dataclass, field

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Bool, List, Unicode

# ----------------------------------------------------------------------------- grades


@dataclass
class Grades:
    assignments: list          # [(assignment id, max score)], by due date then name
    students: list             # [{"id", "first_name", "last_name", "email", "lms_user_id"}], by id
    scores: dict               # (student id, assignment id) -> final score
    ungraded: dict = field(default_factory=dict)   # (student id, assignment id) -> cells still to grade by hand
    left_out: list = field(default_factory=list)   # assignments in the gradebook that are not exported


def read_grades(db_url: str, course_id: str, only=None, released=()) -> Grades:
    """Final scores from the gradebook, computed as nbgrader's ``export`` computes them.

    Columns: the assignments named in ``only``; else those with at least one submission or
    in ``released`` (the exchange's outbound). An assignment nobody received (``setup``
    registers every assignment of the course) would become an all-zero column that the LMS
    creates as a new assignment."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        everything = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate or 0, a.name))
        if only:
            unknown = sorted(set(only) - {a.name for a in everything})
            if unknown:
                raise ValueError(f"not in the gradebook: {', '.join(unknown)} (it has {', '.join(a.name for a in everything)})")
            assignments = [a for a in everything if a.name in only]
        else:
            assignments = [a for a in everything if a.submissions or a.name in released]
        columns = [(a.name, float(a.max_score)) for a in assignments]
        students = [{"id": s.id, "first_name": s.first_name or "", "last_name": s.last_name or "",
                     "email": s.email or "", "lms_user_id": s.lms_user_id or ""}
                    for s in sorted(gb.students, key=lambda s: s.id)]
        scores, ungraded = {}, {}
        for s in students:
            for aid, _ in columns:
                try:
                    sub = gb.find_submission(aid, s["id"])
                except MissingEntry:
                    scores[s["id"], aid] = 0.0
                else:
                    scores[s["id"], aid] = max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0.0))
                    if sub.needs_manual_grade:
                        ungraded[s["id"], aid] = sorted(g.name for nb in sub.notebooks for g in nb.grades
                                                        if g.needs_manual_grade)
    return Grades(columns, students, scores, ungraded, [a.name for a in everything if a not in assignments])


@dataclass(frozen=True)
class LMS:
    name: str
    identity: tuple            # identity columns, in order
    keys: tuple                # (template column, student field) pairs that identify a row, tried in order
    header: str                # a new assignment column's header, from {aid}
    header_pattern: str        # a template header -> group 1 is the assignment's name
    points_row: bool           # a "Points Possible" row under the header

    def identity_row(self, s: dict) -> dict:
        if self.name == "canvas":
            return {"Student": f"{s['last_name']}, {s['first_name']}".strip(", "), "ID": "",
                    "SIS User ID": s["id"], "SIS Login ID": s["id"], "Section": ""}
        return {"First name": s["first_name"], "Last name": s["last_name"], "ID number": s["id"],
                "Email address": s["email"]}


# A student is matched to an LMS row by the first of these that agree (case ignored): the
# roster's id (the user name), its e-mail (Canvas logins are often e-mail addresses) and its
# optional lms_user_id column (an institution's numeric id).
CANVAS = LMS("canvas", ("Student", "ID", "SIS User ID", "SIS Login ID", "Section"),
             (("SIS Login ID", "id"), ("SIS User ID", "id"), ("SIS Login ID", "email"), ("SIS User ID", "lms_user_id"),
              ("SIS Login ID", "lms_user_id"), ("ID", "lms_user_id")), "{aid}", r"^(.*?) \(\d+\)$", True)
MOODLE = LMS("moodle", ("First name", "Last name", "ID number", "Email address"),
             (("ID number", "id"), ("Email address", "email"), ("ID number", "lms_user_id"), ("Username", "id")),
             "Assignment: {aid} (Real)", r"^(?:[^:]+: )?(.*?) \((?:Real|Percentage|Letter)\)$", False)
SYSTEMS = {"canvas": CANVAS, "moodle": MOODLE}
# Canvas's export has read-only rows and columns that its importer ignores or refuses.
_CANVAS_SKIP_ROWS = ("Points Possible", "Student, Test")


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def export_grades(grades: Grades, lms: LMS, out, template=None, titles=None) -> dict:
    """Write ``grades`` as ``lms``'s import CSV to ``out``; returns what matched and what did not,
    with ``warnings``: anything an instructor must look at before importing (the command then
    exits 1). ``titles`` maps an assignment id to the name the LMS gives it."""
    titles = dict(titles or {})
    header_of = {aid: lms.header.format(aid=aid) for aid, _ in grades.assignments}
    rows, unmatched_rows, placed, warnings, new_columns = [], [], set(), [], []
    identity = list(lms.identity)
    if template is not None:
        with open(template, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            tcols = reader.fieldnames or []
            missing = [k for k, _ in lms.keys[:1] if k not in tcols]
            if missing:
                raise ValueError(f"{template}: not a {lms.name} gradebook export: no {missing[0]!r} column "
                                 f"(its header reads {', '.join(tcols)})")
            existing = {}
            for col in tcols:  # the LMS's own header for an assignment it already has
                m = re.match(lms.header_pattern, col)
                if m:
                    existing[m.group(1)] = col
            for aid in header_of:
                name = titles.get(aid, aid)
                if name in existing:
                    header_of[aid] = existing[name]
                else:
                    new_columns.append(aid)
            # The LMS's identity columns lead its export, up to the first grade column.
            first_grade = next((i for i, c in enumerate(tcols) if re.match(lms.header_pattern, c)), len(tcols))
            identity = tcols[:first_grade]
            by_key = {}
            for s in grades.students:
                for col, fld in lms.keys:
                    if s.get(fld):
                        by_key.setdefault((col, s[fld].casefold()), s["id"])
            for trow in reader:
                first = (trow.get(identity[0]) or "").strip()
                if lms is CANVAS and first.startswith(_CANVAS_SKIP_ROWS):
                    continue
                sid = next((by_key[col, trow[col].strip().casefold()] for col, _ in lms.keys
                            if (trow.get(col) or "").strip() and (col, trow[col].strip().casefold()) in by_key), None)
                row = {c: trow.get(c, "") for c in identity}
                if sid is None or sid in placed:
                    unmatched_rows.append(first)
                else:
                    placed.add(sid)
                    row.update({header_of[aid]: _fmt(grades.scores[sid, aid]) for aid, _ in grades.assignments})
                rows.append(row)
        if not placed:
            raise ValueError(f"{template}: none of its {len(unmatched_rows)} students matches the roster "
                             f"(matched by {', '.join(sorted({c for c, _ in lms.keys if c in tcols}))} against the "
                             "roster's id, email and lms_user_id): add an lms_user_id column to the roster "
                             f"(with what {lms.name.title()} shows in one of those columns) and rerun setup --roster")
    students_by_id = {s["id"]: s for s in grades.students}
    not_in_template = [sid for sid in students_by_id if sid not in placed] if template is not None else []
    if template is None:
        for sid in students_by_id:
            row = {c: lms.identity_row(students_by_id[sid]).get(c, "") for c in identity}
            row.update({header_of[aid]: _fmt(grades.scores[sid, aid]) for aid, _ in grades.assignments})
            rows.append(row)

    if unmatched_rows:
        warnings.append(f"{len(unmatched_rows)} {lms.name.title()} row(s) match no student and are left blank: "
                        + ", ".join(unmatched_rows))
    if not_in_template:
        warnings.append(f"{len(not_in_template)} student(s) are not in the {lms.name.title()} export and are not "
                        "exported: " + ", ".join(not_in_template))
    for aid in new_columns:
        warnings.append(f"{aid} has no column in the {lms.name.title()} export: importing would create a new "
                        f"assignment; if it is there under another name, say --title {aid}=NAME")
    for (sid, aid), cells in sorted(grades.ungraded.items()):
        warnings.append(f"{sid} / {aid}: not graded by hand yet ({', '.join(cells)}): exported without those points")
    if not grades.assignments:
        warnings.append("no assignment has a submission yet: nothing to export (name one with --assignment)")

    fields = identity + [header_of[aid] for aid, _ in grades.assignments]
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        if lms.points_row:
            points = {c: "" for c in identity}
            points[identity[0]] = "    Points Possible"
            points.update({header_of[aid]: _fmt(m) for aid, m in grades.assignments})
            writer.writerow(points)
        writer.writerows(rows)
    return {"rows": len(rows), "graded": len(rows) - len(unmatched_rows), "columns": fields,
            "template_rows_without_student": unmatched_rows, "students_not_in_template": not_in_template,
            "warnings": warnings}


# ----------------------------------------------------------------------------- archives


def name_key(text: str) -> str:
    """A name reduced to what both LMSs keep: case-folded letters and digits, accents removed."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text.casefold() if ch.isalnum() and not unicodedata.combining(ch))


class LMSFileNameCollector(FileNameCollectorPlugin):
    """nbgrader's file-name collector for several LMS naming schemes at once.

    Each of ``named_regexps`` is matched (``re.match``) against the extracted file's full path,
    in order; the first that matches wins. A pattern gives ``file_id`` and either
    ``student_id`` or ``lms_name``, a student's name that is looked up in the gradebook's
    roster (last name + first name, or first + last, compared by :func:`name_key`).
    """

    named_regexps = List(Unicode(), help="Patterns with the named groups file_id and student_id or lms_name.").tag(config=True)
    single_notebook = Bool(True, help="When the assignment has one notebook, collect any one .ipynb a "
                                      "student uploaded as that notebook (students rename downloads).").tag(config=True)

    _roster = None

    def _students_by_name(self) -> dict:
        if self._roster is None:
            from nbgrader.api import Gradebook

            coursedir = self.parent.coursedir
            index = {}
            with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
                for s in gb.students:
                    first, last = s.first_name or "", s.last_name or ""
                    for key in {name_key(last + first), name_key(first + last)} - {""}:
                        index.setdefault(key, set()).add(s.id)
            self._roster = index
        return self._roster

    def _released(self) -> list:
        coursedir = self.parent.coursedir
        path = coursedir.format_path(coursedir.release_directory, ".", coursedir.assignment_id)
        return sorted(os.path.relpath(p, path) for p in glob.glob(os.path.join(path, "**", "*.ipynb"), recursive=True))

    def collect(self, submitted_file: str):
        ext = os.path.splitext(submitted_file)[1]
        if ext not in self.valid_ext:
            self.log.warning("Skipping %s: not a notebook (%s); the student must upload the .ipynb file",
                             os.path.basename(submitted_file), ext or "no extension")
            self._note("not_a_notebook", os.path.basename(submitted_file))
            return None
        for pattern in self.named_regexps or ([self.named_regexp] if self.named_regexp else []):
            m = re.match(pattern, submitted_file)
            if m:
                break
        else:
            self.log.warning("No LMS file-name pattern matches %s", submitted_file)
            self._note("unmatched", os.path.basename(submitted_file))
            return None
        info = {k: v for k, v in m.groupdict().items() if v is not None}
        if "student_id" not in info:
            ids = self._students_by_name().get(name_key(info.get("lms_name", "")), set())
            if len(ids) != 1:
                why = "matches no student" if not ids else f"matches several students ({', '.join(sorted(ids))})"
                self.log.warning("Skipping %s: the name %r %s in the roster", submitted_file, info.get("lms_name"), why)
                self._note("unmatched", os.path.basename(submitted_file))
                return None
            info["student_id"] = ids.pop()
        if info.get("late"):
            # The LMS says late but gives no time: nbgrader's late penalty needs one. Listed for
            # the instructor (in the log and logs/zip_collect/<assignment>.json) to decide.
            self.log.warning("LATE according to the LMS: %s (%s); nbgrader has no submission time for it, "
                             "so no late penalty is applied: decide it in formgrader", info["student_id"],
                             os.path.basename(submitted_file))
            self._note("late", info["student_id"])
        if self.single_notebook:
            released = self._released()
            wanted = os.path.splitext(info["file_id"])[0] + ".ipynb"
            if len(released) == 1 and wanted not in released:
                self.log.warning("Collecting %s as %s (the assignment's only notebook)", submitted_file, released[0])
                info["file_id"] = released[0]
        return {k: info[k] for k in ("student_id", "file_id", "timestamp") if k in info}

    def _note(self, kind: str, what: str) -> None:
        """Add to logs/zip_collect/<assignment>.json in the course folder: late, unmatched, not a notebook."""
        import json

        if self._notes is None:
            self._notes = {"late": [], "unmatched": [], "not_a_notebook": []}
        if what not in self._notes[kind]:
            self._notes[kind].append(what)
        coursedir = getattr(self.parent, "coursedir", None)
        if coursedir is None:
            return
        path = os.path.join(coursedir.root, "logs", "zip_collect", f"{coursedir.assignment_id}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self._notes, f, indent=1)

    _notes = None
