"""Grading from a copy of the repository, as docs/instructors.md allows ("run every nbgrader
command from the repository root, or from a copy of it"), while the genlearn that pip installed
(editable) lives in another checkout.

nbgrader then imports the copy's genlearn (its config sits beside it), and the kernels must
import that same package: they once found none ("the grading guard did not start in the
kernel: No module named 'genlearn'"), and with the package exposed, the guard reported the
grader's own checks.py as tampering.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import nbformat
import pytest

import grading_tools as gt

pytestmark = pytest.mark.grading

AID = "ex01_likelihood"


def test_a_copy_of_the_course_grades_the_solution_fully_and_reports_nothing(tmp_path):
    copy = tmp_path / "course-copy"
    files = subprocess.run(["git", "ls-files", "genlearn", "solutions", "nbgrader_config.py"], cwd=gt.ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(gt.ROOT / rel, copy / rel)
    run = gt.nbgrader(["generate_assignment", AID, "--force"], copy)
    assert run.returncode == 0, run.stdout + run.stderr
    submitted = copy / "submitted" / "alice" / AID / f"{AID}.ipynb"
    submitted.parent.mkdir(parents=True)
    shutil.copy(copy / "solutions" / AID / f"{AID}.ipynb", submitted)
    run = gt.nbgrader(["autograde", AID, "--force"], copy, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    scores = gt.scores(copy, AID, "alice")
    tests = gt.test_cells(nbformat.read(copy / "solutions" / AID / f"{AID}.ipynb", 4))
    assert {g: scores[g] for g in tests} == tests, log[-3000:]
    report = json.loads((copy / "grading_reports" / AID / "alice" / f"{AID}.json").read_text())
    assert not report["tampered"] and not report["tampering"], report
