"""Feedback that keeps hidden tests hidden.

nbgrader's feedback shows every test cell's source and the full traceback of a failure,
hidden tests included (nbgrader issues #917 and #1363), so one round of feedback would hand the
hidden tests to the class. :class:`HideHiddenTests` runs first in ``nbgrader
generate_feedback``: for each test cell with hidden tests it keeps the visible part of the
source, replaces the hidden part with one comment line, and shortens every error to its name
and message (the assertion messages are written to teach; the traceback would quote the code).
The test's name and points still show, from nbgrader's own cell header.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Unicode

HIDDEN_NOTE = "# hidden tests: not shown (their names, points and failure messages are above and below)"


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden test code (and tracebacks that quote it) from feedback."""

    begin = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("### END HIDDEN TESTS").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        lines, kept, hidden, had_hidden = cell.source.splitlines(), [], False, False
        for line in lines:
            if self.begin in line:
                hidden, had_hidden = True, True
                kept.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
            elif self.end in line:
                hidden = False
            elif not hidden:
                kept.append(line)
        if not had_hidden:
            return cell, resources
        cell.source = "\n".join(kept)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"\x1b[0;31m{out.get('ename', 'Error')}\x1b[0m: {out.get('evalue', '')}"]
        return cell, resources
