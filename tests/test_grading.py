"""The nbgrader assignments, graded by real nbgrader.

For every assignment in solutions/, in a temporary course directory:

1. exercises/ is what ``nbgrader generate_assignment`` makes from solutions/;
2. the source notebook, submitted as is, gets full autograded marks;
3. the untouched release gets zero;
4. plausible wrong submissions (tests/grading_fixtures/) lose the points of the cells that
   test the mistake, keep the others, and their feedback names the mistake; each is caught by
   a visible test unless the fixture says why the hidden tests keep it secret, every hidden
   test that trips is checked for its message, a submission that copies the nearest lesson
   code gets at most half of the autograded points, and docs/instructors.md lists what each
   mistake loses to the visible and to the hidden tests;
5. an exception, an infinite loop, an emptied test cell and a deleted cell are each graded
   without stopping the batch; the other cells keep their marks.

All submissions of one assignment are graded by one ``nbgrader autograde`` call (as an
instructor would), and the assignments are graded two at a time.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

import grading_tools as gt

# The static checks below (no nbgrader) are in the fast tier; every test that grades is marked.
grading = pytest.mark.grading

# An assignment without its fixture module fails test_every_assignment_has_its_fixture_module
# (naming the file); it must not stop the collection of every other test.
FIXTURES, MISSING_FIXTURES = gt.load_all_fixtures()
WRONG = [(aid, name) for aid in FIXTURES for name in FIXTURES[aid].SUBMISSIONS]
ROBUST = [(aid, case) for aid in FIXTURES
          for case in gt.robustness_submissions(FIXTURES[aid].ROBUSTNESS)]


def _student_id(kind: str, name: str) -> str:
    return f"{kind}_{name}".replace("-", "_")


def _submissions(aid: str, source_nb, release_nb) -> dict:
    """student id -> (notebook, spec) for every submission of one assignment."""
    solved = gt.student_notebook(source_nb, release_nb)
    subs = {"solution": (source_nb, {}), "release": (release_nb, {}), "solved": (solved, {})}
    if aid not in FIXTURES:  # failed by test_every_assignment_has_its_fixture_module
        return subs
    for name, spec in FIXTURES[aid].SUBMISSIONS.items():
        subs[_student_id("wrong", name)] = (gt.apply_edits(solved, spec, release_nb), spec)
    for name, spec in gt.robustness_submissions(FIXTURES[aid].ROBUSTNESS).items():
        subs[_student_id("robust", name)] = (gt.apply_edits(solved, spec, release_nb), spec)
    return subs


def _grade_assignment(tmp: Path, aid: str) -> dict:
    course = gt.new_course(tmp / aid, [aid])
    start = time.perf_counter()
    released = gt.generate(course, aid)
    generate_s = time.perf_counter() - start
    source_nb = nbformat.read(course / "solutions" / aid / f"{aid}.ipynb", 4)
    release_nb = nbformat.read(released, 4)
    subs = _submissions(aid, source_nb, release_nb)
    for sid, (nb, _) in subs.items():
        path = course / "submitted" / sid / aid / f"{aid}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
    start = time.perf_counter()
    proc = gt.nbgrader(["autograde", aid, "--force"], course, timeout=1200)
    autograde_s = time.perf_counter() - start
    result = {"course": course, "released": released, "proc": proc, "subs": subs,
              "tests": gt.test_cells(source_nb), "generate_s": generate_s,
              "autograde_s": autograde_s, "scores": {}, "feedback_nb": {}}
    for sid in subs:
        graded = course / "autograded" / sid / aid / f"{aid}.ipynb"
        if graded.exists():
            result["scores"][sid] = gt.scores(course, aid, sid)
            result["feedback_nb"][sid] = nbformat.read(graded, 4)
    return result


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory) -> dict:
    """Grade every assignment that a selected test needs (all, unless -k narrows it), two at a time."""
    wanted = sorted({item.callspec.params["aid"] for item in request.session.items
                     if "graded" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")})
    tmp = tmp_path_factory.mktemp("grading")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(wanted, pool.map(lambda aid: _grade_assignment(tmp, aid), wanted)))
    for aid, r in results.items():
        n = len(r["subs"])
        print(f"{aid}: generate {r['generate_s']:.1f} s, autograde {n} submissions in {r['autograde_s']:.1f} s "
              f"({r['autograde_s'] / n:.1f} s each), exit {r['proc'].returncode}")
    return results


def _log(r) -> str:
    return (r["proc"].stdout + r["proc"].stderr)[-4000:]


# ----------------------------------------------------------------------------- static checks


@pytest.mark.parametrize("aid", gt.ASSIGNMENTS)
def test_assignment_is_well_formed(aid):
    source = nbformat.read(gt.SOURCE / aid / f"{aid}.ipynb", 4)
    release = nbformat.read(gt.RELEASE / aid / f"{aid}.ipynb", 4)
    for nb in (source, release):
        assert nb.metadata["kernelspec"]["name"] == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, "commit notebooks without outputs"
    metas = [c.metadata.get("nbgrader", {}) for c in source.cells]
    points = sum(m.get("points", 0) for m in metas)
    assert 15 <= points <= 30 and points % 5 == 0, f"{aid}: {points} points, not a round total in 15-30"
    manual = [m for m in metas if m.get("grade") and m.get("solution")]
    assert manual, f"{aid} has no manually graded written answer"
    assert len(gt.test_cells(source)) >= 3
    intro = source.cells[0].source
    assert "lessons/" in intro, "the intro names the matching lesson"
    for part in (f"**Points: {points} in all.**", "**How to work.**", "**Grading rules.**", "checked("):
        assert part in intro, f"{aid}: the intro must say {part!r} (CONTRIBUTING.md, 'Add an assignment')"
    hidden = [c for c in source.cells if "### BEGIN HIDDEN TESTS" in c.source]
    assert hidden, f"{aid} has no hidden tests"
    stubs = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    assert stubs and all("# YOUR CODE HERE" in c.source and "raise NotImplementedError()" in c.source for c in stubs)
    assert not any("BEGIN HIDDEN TESTS" in c.source or "BEGIN SOLUTION" in c.source for c in release.cells)


def _points(aid: str) -> tuple[int, int]:
    """(all points, autograded points) of one source notebook."""
    nb = nbformat.read(gt.SOURCE / aid / f"{aid}.ipynb", 4)
    return sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells), sum(gt.test_cells(nb).values())


def test_the_guides_list_every_assignment_with_its_points():
    """docs/instructors.md's and docs/students.md's assignment tables name exactly the folders of
    solutions/, with each one's points (CONTRIBUTING.md, 'Add an assignment': add a row to each)."""
    docs = gt.ROOT / "docs"
    instructors = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in re.findall(
        r"^\| `(ex\d\d_\w+)`:.*\| (\d+) \((\d+) \+ (\d+)\) \|$", (docs / "instructors.md").read_text(), re.M)}
    students = {m[0]: int(m[1]) for m in re.findall(
        r"^\|[^|]*\| `exercises/(ex\d\d_\w+)/\1\.ipynb` \| (\d+) \|$", (docs / "students.md").read_text(), re.M)}
    assert sorted(instructors) == gt.ASSIGNMENTS, (
        f"docs/instructors.md's table lists {sorted(instructors)}; solutions/ holds {gt.ASSIGNMENTS}")
    assert sorted(students) == gt.ASSIGNMENTS, (
        f"docs/students.md's table lists {sorted(students)}; solutions/ holds {gt.ASSIGNMENTS}")
    for aid in gt.ASSIGNMENTS:
        total, auto = _points(aid)
        assert instructors[aid] == (total, auto, total - auto), f"docs/instructors.md: {aid} has {total} ({auto} + {total - auto})"
        assert students[aid] == total, f"docs/students.md: {aid} has {total} points"


# ----------------------------------------------------------------------------- nbgrader


@grading
@pytest.mark.parametrize("aid", gt.ASSIGNMENTS)
def test_release_is_generated_from_solutions(graded, aid):
    fresh = gt.normalized(graded[aid]["released"])
    committed = gt.normalized(gt.RELEASE / aid / f"{aid}.ipynb")
    assert committed == fresh, (f"exercises/{aid} differs from a fresh generate_assignment of solutions/{aid}: "
                                "run `python scripts/release_exercises.py` and commit the result")


@grading
@pytest.mark.parametrize("aid", gt.ASSIGNMENTS)
def test_whole_batch_is_graded(graded, aid):
    r = graded[aid]
    assert r["proc"].returncode == 0, _log(r)
    assert set(r["scores"]) == set(r["subs"]), f"not graded: {set(r['subs']) - set(r['scores'])}"


@grading
@pytest.mark.parametrize("aid", gt.ASSIGNMENTS)
@pytest.mark.parametrize("student", ["solution", "solved"])
def test_solution_gets_full_marks(graded, aid, student):
    r = graded[aid]
    got = {gid: r["scores"][student][gid] for gid in r["tests"]}
    assert got == r["tests"], f"{student}: {got} (expected {r['tests']})\n{_log(r)}"


@grading
@pytest.mark.parametrize("aid", gt.ASSIGNMENTS)
def test_untouched_release_gets_zero(graded, aid):
    r = graded[aid]
    got = {gid: r["scores"]["release"][gid] for gid in r["tests"]}
    assert set(got.values()) == {0}, got


def _check_submission(r, sid, spec):
    scores, nb = r["scores"][sid], r["feedback_nb"][sid]
    failing = set(spec["fails"]) | set(spec.get("also_fails", ()))
    for gid, points in r["tests"].items():
        if gid in spec.get("may_fail", {}):  # at its threshold: the machine's arithmetic decides, all or nothing
            assert scores[gid] in (0, points), f"{sid}: cell {gid} scored {scores[gid]} of {points}: all or nothing"
            continue
        expected = 0 if gid in failing else points
        assert scores[gid] == expected, (
            f"{sid}: cell {gid} scored {scores[gid]}, expected {expected}\n{gt.feedback_text(nb, gid)[-1500:]}")
    for gid, text in spec["fails"].items():
        feedback = gt.feedback_text(nb, gid)
        assert text in feedback, f"{sid}: the feedback of {gid} should say {text!r}; it says:\n{feedback[-1500:]}"


def _caught_by(r, sid, spec) -> dict:
    """grade_id -> "visible" or "hidden": which part of each failing test cell caught the submission."""
    cells = gt.cells_by_id(r["feedback_nb"][sid])
    return {gid: gt.failing_part(cells[gid]) for gid in set(spec["fails"]) | set(spec.get("also_fails", ()))}


def _points_lost(r, sid, spec) -> tuple[int, int]:
    """(points lost to visible tests, points lost to hidden tests only) by one wrong submission."""
    caught = _caught_by(r, sid, spec)
    return (sum(r["tests"][g] for g, part in caught.items() if part == "visible"),
            sum(r["tests"][g] for g, part in caught.items() if part == "hidden"))


@grading
@pytest.mark.parametrize("aid,name", WRONG, ids=[f"{a}-{n}" for a, n in WRONG])
def test_wrong_submission_loses_points_and_is_told_why(graded, aid, name):
    spec, sid = FIXTURES[aid].SUBMISSIONS[name], _student_id("wrong", name)
    r = graded[aid]
    _check_submission(r, sid, spec)
    caught = _caught_by(r, sid, spec)
    hidden_only = [g for g, part in caught.items() if part == "hidden"]
    unchecked = [g for g in hidden_only if g not in spec["fails"]]
    assert not unchecked, (f"{sid}: hidden tests of {unchecked} catch it: list them in 'fails' with the text their "
                           "message must hold, so that the feedback is checked to name the mistake")
    visibly = [g for g, part in caught.items() if part == "visible"]
    if spec.get("hidden"):
        assert not visibly, (f"{sid} is declared hidden on purpose ({spec['hidden']!r}) but the visible parts of "
                             f"{visibly} catch it: drop 'hidden' from the fixture")
    else:
        assert visibly, (f"{sid}: only hidden tests catch this mistake ({hidden_only}); a visible test must catch it "
                         "too, or the fixture must say why the hidden tests keep it secret ('hidden': reason)")
    if spec.get("lesson_copy"):
        total = sum(r["tests"].values())
        got = sum(r["scores"][sid][g] for g in r["tests"])
        assert got <= total / 2, f"{sid} copies the nearest lesson code and gets {got} of {total} autograded points"


def _fixture_rows(aid, r) -> list[str]:
    """The rows of docs/instructors.md's table of wrong submissions for one assignment."""
    rows = []
    for name, spec in FIXTURES[aid].SUBMISSIONS.items():
        visible, hidden = _points_lost(r, _student_id("wrong", name), spec)
        why = spec.get("hidden", "")
        rows.append(f"| `{name}` | {spec['mistake']} | {visible} | {hidden} | {why} |")
    return rows


@grading
@pytest.mark.parametrize("aid", sorted(FIXTURES))
def test_instructor_guide_lists_what_each_mistake_loses(graded, aid):
    guide = " ".join((gt.ROOT / "docs" / "instructors.md").read_text().split())
    rows = _fixture_rows(aid, graded[aid])
    missing = [row for row in rows if " ".join(row.split()) not in guide]
    assert not missing, (f"docs/instructors.md should list every wrong submission of {aid} with the points it loses; "
                         "its rows are now:\n" + "\n".join(rows))


@pytest.mark.parametrize("aid", gt.ASSIGNMENTS)
def test_every_assignment_has_its_fixture_module(aid):
    assert aid not in MISSING_FIXTURES, MISSING_FIXTURES.get(aid)


@pytest.mark.parametrize("aid", sorted(FIXTURES))
def test_enough_wrong_submissions(aid):
    subs = FIXTURES[aid].SUBMISSIONS
    assert len(subs) >= 3
    assert sum(bool(s.get("lesson_copy")) for s in subs.values()) == 1, (
        f"{aid} needs one wrong submission that copies the nearest lesson code ('lesson_copy': True)")


@grading
@pytest.mark.parametrize("aid,case", ROBUST, ids=[f"{a}-{c}" for a, c in ROBUST])
def test_broken_submission_is_graded_and_others_cells_keep_marks(graded, aid, case):
    spec = gt.robustness_submissions(FIXTURES[aid].ROBUSTNESS)[case]
    _check_submission(graded[aid], _student_id("robust", case), spec)


@grading
@pytest.mark.parametrize("aid", sorted(FIXTURES))
def test_infinite_loop_is_interrupted(graded, aid):
    nb = graded[aid]["feedback_nb"]["robust_infinite_loop"]
    answer = FIXTURES[aid].ROBUSTNESS["answer"]
    text = gt.feedback_text(nb, answer)
    assert "KeyboardInterrupt" in text or "Timeout" in text or "timed out" in text.lower(), text[-1500:]
