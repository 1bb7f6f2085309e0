"""nbgrader's autograde converter, made safe for files and notebooks a student controls.

nbgrader's ``Autograde`` (0.9) copies every file of a submission folder into ``autograded/``
with ``shutil.copy``, following links and copying sparse files densely, as the grader's user:
a submission holding ``shadow -> /etc/shadow`` or a link to ``gradebook.db`` got those files
copied beside its feedback. And a notebook whose nbgrader metadata has another schema
version, or a test cell pasted twice, raised an error that ended the whole ``nbgrader
autograde`` run, leaving every later submission ungraded.

:class:`SafeAutograde` replaces it (:func:`genlearn.grading.configure` installs it for the
``autograde`` command and for nbgrader's API, which formgrader and ``genlearn-course
autograde`` use). It

* copies a submission's files as :func:`~.sandbox.copy_regular_files` does: regular files only
  (no links, devices or FIFOs), opened without following links, within a size budget; the
  instructor's own files from ``source/`` are copied over them as nbgrader does;
* grades a submitted notebook only when it is a regular file within the budget, else scores it
  0 as nbgrader does a missing notebook;
* repairs what one notebook's metadata can break for everyone (:class:`RepairMetadata`, the
  first step of the sanitizing pass): nbgrader metadata of an unknown schema version or
  malformed is removed, and of two cells with one ``grade_id`` the first keeps it (the locked
  and test cells are restored from the gradebook afterwards, as always);
* and never lets one submission's error stop the others: it is logged, its notebook scored 0.

What was refused is written to ``grading_reports/<assignment>/<student>/files.json`` and
said on the command line.
"""

from __future__ import annotations

import json
import os
import stat

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.nbgraderformat import SchemaTooNewError, SchemaTooOldError
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import find_all_files
from traitlets import Unicode

from .sandbox import Sandbox, copy_regular_files, parse_size

SCHEMA_VERSION = 3


class RepairMetadata(NbGraderPreprocessor):
    """Make a submitted notebook's nbgrader metadata something nbgrader can read, cell by cell."""

    def preprocess(self, nb, resources):
        seen: set[str] = set()
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta is None:
                continue
            problem = _metadata_problem(meta)
            if problem is None:
                gid = meta.get("grade_id")
                if gid in seen:
                    problem = f"a second cell with grade_id {gid!r}"
                else:
                    seen.add(gid)
            if problem is not None:
                self.log.warning("%s: nbgrader metadata of a cell removed (%s)", resources.get("unique_key", "?"), problem)
                resources.setdefault("genlearn_repaired", []).append(problem)
                del cell.metadata["nbgrader"]
        return nb, resources


def _metadata_problem(meta) -> str | None:
    if not isinstance(meta, dict):
        return "not a dictionary"
    if meta.get("schema_version") != SCHEMA_VERSION:
        return f"schema_version {meta.get('schema_version')!r}"
    flags = [meta.get(k, False) for k in ("grade", "solution", "locked", "task")]
    if not all(isinstance(f, bool) for f in flags):
        return "flags that are not true/false"
    if any(flags) and not (isinstance(meta.get("grade_id"), str) and meta["grade_id"]):
        return "no grade_id"
    if (meta.get("grade") or meta.get("task")) and not isinstance(meta.get("points"), (int, float)):
        return "no points"
    return None


class SafeAutograde(Autograde):
    """``Autograde`` that copies regular files only, within a budget, and grades each submission on its own."""

    report_dir = Unicode("grading_reports", help="Where per-submission reports go (relative to the course).").tag(config=True)

    def _init_preprocessors(self) -> None:
        super()._init_preprocessors()
        if self._sanitizing:  # repair first, before nbgrader reads or deduplicates the metadata
            self.exporter._preprocessors.insert(0, RepairMetadata(parent=self))

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        self._current = (assignment_id, student_id)
        sandbox = Sandbox(parent=self)
        max_file = parse_size(sandbox.max_copy_file, "Sandbox.max_copy_file")
        max_total = parse_size(sandbox.max_copy_total, "Sandbox.max_copy_total")
        refused, kept = self._check_notebooks(max_file)
        ignore = list(self.coursedir.ignore)
        self.coursedir.ignore = ignore + ["*", ".*"]  # nbgrader copies nothing itself: we do, below
        try:
            super().init_assignment(assignment_id, student_id)
        finally:
            self.coursedir.ignore = ignore
        for path in self.notebooks:
            if path not in kept:
                self._zero(assignment_id, student_id, os.path.splitext(os.path.basename(path))[0])
        self.notebooks = [path for path in self.notebooks if path in kept]
        source = self._format_source(assignment_id, student_id)
        dest = self._format_dest(assignment_id, student_id)
        refused += copy_regular_files(source, dest, max_file, max_total, ignore=(*ignore, ".ipynb_checkpoints"),
                                      skip=("*.ipynb",))
        self._copy_instructor_files(assignment_id, dest)
        self._report(assignment_id, student_id, refused)

    def _check_notebooks(self, max_file: int) -> tuple[list[str], list[str]]:
        """Submitted notebooks that are links, not regular files, or too large are not read (and
        score 0, as a missing notebook does): (what was refused and why, the notebooks kept)."""
        refused, kept = [], []
        for path in self.notebooks:
            name = os.path.basename(path)
            try:
                info = os.lstat(path)
            except OSError as err:
                refused.append(f"{name}: unreadable ({err.strerror})")
                continue
            if not stat.S_ISREG(info.st_mode):
                kind = "a link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
                refused.append(f"{name}: {kind} (not graded: scored 0)")
            elif info.st_size > max_file:
                refused.append(f"{name}: {info.st_size:,} bytes, over the {max_file:,}-byte limit (not graded: scored 0)")
            else:
                kept.append(path)
        return refused, kept

    def _zero(self, assignment_id: str, student_id: str, notebook: str) -> None:
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                gb.update_or_create_student(student_id)
                gb.update_or_create_submission(assignment_id, student_id)
                submission = gb.find_submission_notebook(notebook, assignment_id, student_id)
            except MissingEntry:
                return
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()

    def _copy_instructor_files(self, assignment_id: str, dest: str) -> None:
        """The source folder's other files over the student's, as nbgrader does (these are the instructor's)."""
        import shutil

        source = self.coursedir.format_path(self.coursedir.source_directory, ".", assignment_id)
        excluded = {os.path.join(source, x) for x in self.exclude_overwriting.get(assignment_id, [])}
        for filename in find_all_files(source, self.coursedir.ignore + ["*.ipynb"]):
            if filename in excluded:
                continue
            target = os.path.join(dest, os.path.relpath(filename, source))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.lexists(target):
                os.remove(target)
            shutil.copy(filename, target)

    def _report(self, assignment_id: str, student_id: str, refused: list[str]) -> None:
        if not refused:
            return
        root = os.path.dirname(os.path.abspath(self.coursedir.db_url.removeprefix("sqlite:///"))) \
            if self.coursedir.db_url.startswith("sqlite:///") else self.coursedir.root
        folder = os.path.join(root, self.report_dir, assignment_id, student_id)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "files.json.tmp"), "w") as f:
            json.dump({"student": student_id, "assignment": assignment_id, "refused": refused}, f, indent=2)
        os.replace(os.path.join(folder, "files.json.tmp"), os.path.join(folder, "files.json"))
        self.log.warning("REFUSED FILES %s / %s: %s%s", student_id, assignment_id, refused[0],
                         f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
        except (SchemaTooOldError, SchemaTooNewError) as err:
            # RepairMetadata makes these rare; one that still gets through is this student's alone
            assignment_id, student_id = self._current
            self._zero(assignment_id, student_id, os.path.splitext(os.path.basename(notebook_filename))[0])
            raise RuntimeError(f"{student_id}: the notebook's nbgrader metadata cannot be read ({err}); "
                               "scored 0") from None


def install() -> None:
    """Make ``nbgrader autograde`` and nbgrader's API (formgrader) use :class:`SafeAutograde`."""
    from nbgrader.apps import api, autogradeapp

    autogradeapp.Autograde = SafeAutograde
    api.Autograde = SafeAutograde

