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

    Both are nbgrader export plugins (:class:`CanvasExport`, :class:`MoodleExport`)::

        nbgrader export --exporter genlearn.course.lms.CanvasExport --to canvas.csv \\
            --CanvasExport.template=canvas_export.csv

    and ``genlearn-course export`` runs them (exiting 1 when there is something to look at).

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
from pathlib import Path

from nbgrader.plugins import ExportPlugin, FileNameCollectorPlugin
from traitlets import Bool, Dict, Instance, List, Unicode, default

# ----------------------------------------------------------------------------- grades


@dataclass
class Grades:
    assignments: list          # [(assignment id, max score)], by due date then name
    students: list             # [{"id", "first_name", "last_name", "email", "lms_user_id"}], by id
    scores: dict               # (student id, assignment id) -> final score
    ungraded: dict = field(default_factory=dict)   # (student id, assignment id) -> cells still to grade by hand
    left_out: list = field(default_factory=list)   # assignments in the gradebook that are not exported


def read_grades(db_url: str, course_id: str, only=None, released=()) -> Grades:
    """Final scores from the gradebook at ``db_url``: :func:`grades_from` on it."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        return grades_from(gb, only, released)


def grades_from(gb, only=None, released=(), students=None) -> Grades:
    """Final scores from an open nbgrader ``Gradebook``, computed as nbgrader's ``export`` computes them.

    Columns: the assignments named in ``only``; else those with at least one submission or
    in ``released`` (the exchange's outbound). An assignment nobody received (``setup``
    registers every assignment of the course) would become an all-zero column that the LMS
    creates as a new assignment. Rows: every student, or those named in ``students``."""
    from nbgrader.api import MissingEntry

    everything = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate or 0, a.name))
    if only:
        unknown = sorted(set(only) - {a.name for a in everything})
        if unknown:
            raise ValueError(f"not in the gradebook: {', '.join(unknown)} (it has {', '.join(a.name for a in everything)})")
        assignments = [a for a in everything if a.name in only]
    else:
        assignments = [a for a in everything if a.submissions or a.name in released]
    columns = [(a.name, float(a.max_score)) for a in assignments]
    roster = sorted((s for s in gb.students if not students or s.id in students), key=lambda s: s.id)
    grades = Grades(columns, [{"id": s.id, "first_name": s.first_name or "", "last_name": s.last_name or "",
                               "email": s.email or "", "lms_user_id": s.lms_user_id or ""} for s in roster],
                    {}, {}, [a.name for a in everything if a not in assignments])
    for s in grades.students:
        for aid, _ in columns:
            try:
                sub = gb.find_submission(aid, s["id"])
            except MissingEntry:
                grades.scores[s["id"], aid] = 0.0
                continue
            grades.scores[s["id"], aid] = max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0.0))
            if sub.needs_manual_grade:
                grades.ungraded[s["id"], aid] = sorted(g.name for nb in sub.notebooks for g in nb.grades
                                                       if g.needs_manual_grade)
    return grades


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


@dataclass
class _Sheet:
    """The CSV being built: its identity columns, each assignment's header, its rows, and what did not match."""
    identity: list
    header_of: dict                                          # assignment id -> column header
    rows: list = field(default_factory=list)
    unmatched_rows: list = field(default_factory=list)       # template rows that are no student's
    placed: set = field(default_factory=set)                 # student ids with a row
    new_columns: list = field(default_factory=list)          # assignments the template has no column for


def _grade_cells(grades: Grades, sheet: _Sheet, sid: str) -> dict:
    return {sheet.header_of[aid]: _fmt(grades.scores[sid, aid]) for aid, _ in grades.assignments}


def _template_columns(lms: LMS, template, tcols: list, sheet: _Sheet, titles: dict) -> None:
    """Check that ``template`` is ``lms``'s export; take its identity columns and its headers for known assignments."""
    if lms.keys[0][0] not in tcols:
        raise ValueError(f"{template}: not a {lms.name} gradebook export: no {lms.keys[0][0]!r} column "
                         f"(its header reads {', '.join(tcols)})")
    existing = {m.group(1): col for col in tcols if (m := re.match(lms.header_pattern, col))}
    for aid in sheet.header_of:
        name = titles.get(aid, aid)
        if name in existing:
            sheet.header_of[aid] = existing[name]
        else:
            sheet.new_columns.append(aid)
    # The LMS's identity columns lead its export, up to the first grade column.
    first_grade = next((i for i, c in enumerate(tcols) if re.match(lms.header_pattern, c)), len(tcols))
    sheet.identity = tcols[:first_grade]


def _fill_from_template(grades: Grades, lms: LMS, template, titles: dict, sheet: _Sheet) -> None:
    """One row per row of the LMS's own export, in its order, with the grades of the student it matches."""
    with open(template, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        tcols = reader.fieldnames or []
        _template_columns(lms, template, tcols, sheet, titles)
        by_key = {}
        for s in grades.students:
            for col, fld in lms.keys:
                if s.get(fld):
                    by_key.setdefault((col, s[fld].casefold()), s["id"])
        for trow in reader:
            first = (trow.get(sheet.identity[0]) or "").strip()
            if lms is CANVAS and first.startswith(_CANVAS_SKIP_ROWS):
                continue
            keys = [(col, (trow.get(col) or "").strip().casefold()) for col, _ in lms.keys]
            sid = next((by_key[k] for k in keys if k[1] and k in by_key), None)
            row = {c: trow.get(c, "") for c in sheet.identity}
            if sid is None or sid in sheet.placed:
                sheet.unmatched_rows.append(first)
            else:
                sheet.placed.add(sid)
                row.update(_grade_cells(grades, sheet, sid))
            sheet.rows.append(row)
    if not sheet.placed:
        raise ValueError(f"{template}: none of its {len(sheet.unmatched_rows)} students matches the roster "
                         f"(matched by {', '.join(sorted({c for c, _ in lms.keys if c in tcols}))} against the "
                         "roster's id, email and lms_user_id): add an lms_user_id column to the roster "
                         f"(with what {lms.name.title()} shows in one of those columns) and rerun setup --roster")


def _warnings(grades: Grades, lms: LMS, sheet: _Sheet, not_in_template: list) -> list:
    """What an instructor must look at before importing."""
    system, warnings = lms.name.title(), []
    if sheet.unmatched_rows:
        warnings.append(f"{len(sheet.unmatched_rows)} {system} row(s) match no student and are left blank: "
                        + ", ".join(sheet.unmatched_rows))
    if not_in_template:
        warnings.append(f"{len(not_in_template)} student(s) are not in the {system} export and are not "
                        "exported: " + ", ".join(not_in_template))
    for aid in sheet.new_columns:
        warnings.append(f"{aid} has no column in the {system} export: importing would create a new "
                        f"assignment; if it is there under another name, say --title {aid}=NAME")
    for (sid, aid), cells in sorted(grades.ungraded.items()):
        warnings.append(f"{sid} / {aid}: not graded by hand yet ({', '.join(cells)}): exported without those points")
    if not grades.assignments:
        warnings.append("no assignment has a submission yet: nothing to export (name one with --assignment)")
    return warnings


def _write_sheet(out, grades: Grades, lms: LMS, sheet: _Sheet) -> list:
    fields = sheet.identity + [sheet.header_of[aid] for aid, _ in grades.assignments]
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        if lms.points_row:
            points = {c: "" for c in sheet.identity}
            points[sheet.identity[0]] = "    Points Possible"
            points.update({sheet.header_of[aid]: _fmt(m) for aid, m in grades.assignments})
            writer.writerow(points)
        writer.writerows(sheet.rows)
    return fields


def export_grades(grades: Grades, lms: LMS, out, template=None, titles=None) -> dict:
    """Write ``grades`` as ``lms``'s import CSV to ``out``; returns what matched and what did not,
    with ``warnings``: anything an instructor must look at before importing (the command then
    exits 1). ``titles`` maps an assignment id to the name the LMS gives it."""
    sheet = _Sheet(list(lms.identity), {aid: lms.header.format(aid=aid) for aid, _ in grades.assignments})
    not_in_template = []
    if template is not None:
        _fill_from_template(grades, lms, template, dict(titles or {}), sheet)
        not_in_template = [s["id"] for s in grades.students if s["id"] not in sheet.placed]
    else:
        for s in grades.students:
            row = {c: lms.identity_row(s).get(c, "") for c in sheet.identity}
            row.update(_grade_cells(grades, sheet, s["id"]))
            sheet.rows.append(row)
    warnings = _warnings(grades, lms, sheet, not_in_template)
    fields = _write_sheet(out, grades, lms, sheet)
    return {"rows": len(sheet.rows), "graded": len(sheet.rows) - len(sheet.unmatched_rows), "columns": fields,
            "template_rows_without_student": sheet.unmatched_rows, "students_not_in_template": not_in_template,
            "warnings": warnings}


def released_assignments(config, course_id: str) -> list:
    """Assignments in the exchange's outbound folder (released to students), if there is one."""
    root = config.Exchange.get("root") if "Exchange" in config else None
    outbound = Path(root or "/srv/nbgrader/exchange") / course_id / "outbound"
    try:
        return sorted(p.name for p in outbound.iterdir() if p.is_dir())
    except OSError:
        return []


class LMSExport(ExportPlugin):
    """nbgrader export plugin: final grades as an LMS's import CSV (:func:`export_grades`).

    ``nbgrader export --exporter genlearn.course.lms.CanvasExport --to canvas.csv`` (or
    ``MoodleExport``); ``--CanvasExport.template=EXPORT.csv`` keeps the LMS's ids and column
    names, ``--CanvasExport.titles ASSIGNMENT=NAME`` names an assignment as the LMS does.
    ``--assignment`` and ``--student`` narrow the export as for nbgrader's CSV exporter.
    Warnings are logged; :attr:`result` holds the summary (``genlearn-course export`` prints it).
    """

    lms: LMS = None
    template = Unicode("", help="The LMS's own gradebook export (CSV): keep its ids and column names.").tag(config=True)
    titles = Dict(value_trait=Unicode(), help="Assignment id -> the name the LMS gives it.").tag(config=True)
    released = List(Unicode(), help="Assignments released to students (default: the exchange's outbound folder); "
                                    "exported even before anyone submitted.").tag(config=True)
    result = Dict(help="What the last export wrote, matched and warned about.")
    grades = Instance(Grades, allow_none=True, help="The grades the last export read from the gradebook.")

    @default("released")
    def _released_default(self):
        coursedir = getattr(self.parent, "coursedir", None)
        return released_assignments(self.config, coursedir.course_id) if coursedir is not None else []

    def export(self, gradebook) -> None:
        if self.lms is None:
            raise ValueError("LMSExport is the base class: use genlearn.course.lms.CanvasExport or MoodleExport")
        dest = self.to or f"{self.lms.name}.csv"
        self.grades = grades_from(gradebook, [str(a) for a in self.assignment], self.released,
                                  [str(s) for s in self.student])
        self.log.info("Exporting %s grades to %s", self.lms.name.title(), dest)
        self.result = export_grades(self.grades, self.lms, dest, self.template or None, self.titles)
        self.result["file"] = str(dest)
        for warning in self.result["warnings"]:
            self.log.warning("%s: %s", self.lms.name, warning)


class CanvasExport(LMSExport):
    """Canvas's gradebook import (Grades > Import)."""
    lms = CANVAS


class MoodleExport(LMSExport):
    """Moodle's grade import (Grades > Import > CSV file)."""
    lms = MOODLE


EXPORTERS = {"canvas": CanvasExport, "moodle": MoodleExport}


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
