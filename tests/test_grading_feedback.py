"""genlearn.grading.feedback: hidden tests never reach a student's feedback."""

from __future__ import annotations

import nbformat

from genlearn.grading.feedback import HIDDEN_NOTE, HideHiddenTests


def _test_cell(source, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "test_x", "points": 3}
    cell.outputs = [nbformat.NotebookNode(o) for o in outputs]
    return cell


def test_hidden_part_and_tracebacks_are_removed():
    source = ("# 3 points\nassert f(1) == 2, 'visible'\n### BEGIN HIDDEN TESTS\n"
              "secret_input = 12345\nassert f(secret_input) == 0, 'f(12345) should be 0'\n### END HIDDEN TESTS")
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "f(12345) should be 0",
             "traceback": ["----", "assert f(secret_input) == 0", "AssertionError: f(12345) should be 0"]}
    nb = nbformat.v4.new_notebook(cells=[_test_cell(source, [error])])
    out, _ = HideHiddenTests().preprocess(nb, {})
    cell = out.cells[0]
    assert "secret_input" not in cell.source and HIDDEN_NOTE in cell.source
    assert "assert f(1) == 2, 'visible'" in cell.source
    assert cell.outputs[0]["traceback"] == ["\x1b[0;31mAssertionError\x1b[0m: f(12345) should be 0"]


def test_cells_without_hidden_tests_keep_their_traceback():
    error = {"output_type": "error", "ename": "NameError", "evalue": "x", "traceback": ["line 1", "NameError: x"]}
    nb = nbformat.v4.new_notebook(cells=[_test_cell("assert x", [error])])
    out, _ = HideHiddenTests().preprocess(nb, {})
    assert out.cells[0].outputs[0]["traceback"] == ["line 1", "NameError: x"]
