"""The instructor's and the student's nbgrader path end to end, through a temporary exchange.

release -> fetch -> (work, validate) -> submit -> collect -> autograde -> generate and
release feedback -> fetch feedback -> grades from the gradebook and `nbgrader export`.
Every step is the real command line, as docs/instructors.md and docs/students.md show it.
"""

from __future__ import annotations

import csv
import getpass
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

import grading_tools as gt

pytestmark = pytest.mark.grading

AID = "ex01_likelihood"  # the quickest to grade; the path is the same for every assignment


def _ok(proc, step):
    assert proc.returncode == 0, f"`nbgrader {step}` failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_release_fetch_submit_collect_grade_feedback(tmp_path):
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange_config = f"c.Exchange.root = {str(exchange)!r}\n"
    course = gt.new_course(tmp_path / "instructor", [AID], exchange_config)
    student_dir = tmp_path / "student"
    student_dir.mkdir()
    (student_dir / "nbgrader_config.py").write_text(  # what the hub gives every user (hub/jupyter/common)
        'c = get_config()\nc.CourseDirectory.course_id = "genlearn"\n'
        'from genlearn.course.exchange import configure\nconfigure(c)\n' + exchange_config)
    student = getpass.getuser()  # on a shared machine the exchange knows students by their OS user

    # Instructor: generate the student version and release it to the exchange.
    released = gt.generate(course, AID)
    _ok(gt.nbgrader(["release_assignment", AID], course), "release_assignment")
    assert (exchange / "genlearn" / "outbound" / AID / f"{AID}.ipynb").exists()

    # Student: list, fetch, work, validate, submit.
    listing = _ok(gt.nbgrader(["list"], student_dir), "list")
    assert AID in listing.stdout + listing.stderr
    _ok(gt.nbgrader(["fetch_assignment", AID], student_dir), "fetch_assignment")
    fetched = student_dir / AID / f"{AID}.ipynb"
    assert gt.normalized(fetched) == gt.normalized(released)

    from nbgrader.validator import Validator

    validator = Validator(config=Config())
    assert "failed" in validator.validate(str(fetched)), "the untouched release must not validate"
    source_nb = nbformat.read(course / "solutions" / AID / f"{AID}.ipynb", 4)
    nbformat.write(gt.student_notebook(source_nb, nbformat.read(fetched, 4)), str(fetched))
    assert validator.validate(str(fetched)) == {}, "the solved notebook must pass its visible tests"
    _ok(gt.nbgrader(["submit", AID], student_dir), "submit")

    # Instructor: collect, autograde, feedback back to the student.
    _ok(gt.nbgrader(["collect", AID], course), "collect")
    assert (course / "submitted" / student / AID / f"{AID}.ipynb").exists()
    _ok(gt.nbgrader(["autograde", AID], course), "autograde")
    _ok(gt.nbgrader(["generate_feedback", AID], course), "generate_feedback")
    html = course / "feedback" / student / AID / f"{AID}.html"
    assert html.exists() and "test_fit_gaussian" in html.read_text()
    _ok(gt.nbgrader(["release_feedback", AID], course), "release_feedback")

    # Student: fetch the feedback.
    _ok(gt.nbgrader(["fetch_feedback", AID], student_dir), "fetch_feedback")
    fetched_feedback = list((student_dir / AID / "feedback").rglob(f"{AID}.html"))
    assert fetched_feedback, f"no feedback under {student_dir / AID}"

    # Instructor: grades from the gradebook, and exported.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(AID, student)
        source = nbformat.read(gt.SOURCE / AID / f"{AID}.ipynb", 4)
        auto, by_hand = sum(gt.test_cells(source).values()), sum(gt.written_cells(source).values())
        assert sub.max_code_score == auto and sub.code_score == auto, (sub.code_score, sub.max_code_score)
        assert sub.max_written_score == by_hand and sub.needs_manual_grade  # the written answers await formgrader
    _ok(gt.nbgrader(["export", "--to", "grades.csv"], course), "export")
    rows = list(csv.DictReader((course / "grades.csv").open()))
    row = next(r for r in rows if r["student_id"] == student and r["assignment"] == AID)
    assert float(row["score"]) == auto and float(row["max_score"]) == auto + by_hand
