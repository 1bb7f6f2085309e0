"""`genlearn-course autograde` grades each submission on its own: notebooks whose nbgrader
metadata once ended a whole `nbgrader autograde` run (a cell of schema version 1 or 99, a test
cell pasted twice) are graded, and the class around them too (issue 20)."""

from __future__ import annotations

import nbformat
import pytest

import grading_tools as gt
from genlearn.course import parallel

pytestmark = pytest.mark.grading

AID = "ex01_likelihood"


def test_metadata_that_stopped_batches_stops_nothing(tmp_path):
    course = gt.new_course(tmp_path / "course", [AID])
    released = gt.generate(course, AID)
    source, release = nbformat.read(course / "solutions" / AID / f"{AID}.ipynb", 4), nbformat.read(released, 4)
    solved = gt.student_notebook(source, release)
    class_ = {
        "a_schema_v1": gt.with_cell_metadata(solved, {"intro": {"nbgrader": {"schema_version": 1}}}),
        "b_schema_v99": gt.with_cell_metadata(solved, {"cell-02": {"nbgrader": {"schema_version": 99, "grade": True}}}),
        "c_pasted_twice": gt.pasted_twice(solved, ["test_log_prob_gaussian", "answer_fit_gaussian"]),
        "d_honest": solved,
    }
    for sid, nb in class_.items():
        path = course / "submitted" / sid / AID / f"{AID}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    run = parallel.autograde_class(course, AID, workers=2)
    assert not run.failed and not run.lost, run.summary()
    tests = gt.test_cells(source)
    for sid in class_:
        scores = gt.scores(course, AID, sid)
        assert {g: scores[g] for g in tests} == tests, (sid, scores)
