"""Helpers for the grading tests (test_grading.py, test_hostile.py, test_exchange.py).

The release script itself is ``scripts/release_exercises.py``; its helpers are imported here.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import nbformat
from release_exercises import (ASSIGNMENTS, RELEASE, ROOT, SOURCE, env, generate, nbgrader,  # noqa: F401
                               new_course, release_all)

FIXTURES = Path(__file__).resolve().parent / "grading_fixtures"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def normalized(path: Path) -> dict:
    """A notebook as a dict, without what legitimately changes between runs."""
    nb = json.loads(Path(path).read_text())
    nb["metadata"].pop("language_info", None)
    for cell in nb["cells"]:
        cell.pop("execution_count", None)
        cell.pop("outputs", None)
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


# ----------------------------------------------------------------------------- submissions


def cells_by_id(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id", c.get("id")): c for c in nb.cells}


def test_cells(nb) -> dict:
    """grade_id -> points of the autograded (code) test cells."""
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def written_cells(nb) -> dict:
    """grade_id -> points of the answers graded by hand (markdown cells with points)."""
    return {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in nb.cells
            if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")}


def student_notebook(source_nb, release_nb):
    """What a student who solved everything submits: the release, with the solutions typed in."""
    nb = copy.deepcopy(release_nb)
    source = cells_by_id(source_nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = source[meta["grade_id"]].source.splitlines()
            cell.source = "\n".join(l for l in lines if l.strip() not in MARKERS)
    return nb


def apply_edits(nb, spec: dict, release_nb=None):
    """A submission from a fixture spec (see grading_fixtures/README.md): ``replace`` (grade_id,
    old, new) substitutions, ``set`` {grade_id: source}, ``stub`` [grade_id] (back to the
    release's stub) and ``delete`` [grade_id]."""
    nb = copy.deepcopy(nb)
    cells = cells_by_id(nb)
    for gid, old, new in spec.get("replace", ()):
        if old not in cells[gid].source:
            raise ValueError(f"fixture edit does not apply: {old!r} is not in cell {gid}")
        cells[gid].source = cells[gid].source.replace(old, new)
    for gid, src in spec.get("set", {}).items():
        cells[gid].source = src
    for gid in spec.get("stub", ()):
        cells[gid].source = cells_by_id(release_nb)[gid].source
    gone = set(spec.get("delete", ()))
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in gone]
    return nb


def with_cell_metadata(nb, metadata: dict):
    """``nb`` with the metadata of some cells replaced: {grade_id: metadata} (a copy)."""
    nb = copy.deepcopy(nb)
    cells = cells_by_id(nb)
    for gid, meta in metadata.items():
        cells[gid].metadata = nbformat.from_dict(meta)
    return nb


def pasted_twice(nb, grade_ids):
    """``nb`` with each of these cells pasted again right after itself (what copy-paste does; a copy)."""
    nb = copy.deepcopy(nb)
    for gid in grade_ids:
        cell = cells_by_id(nb)[gid]
        twin = nbformat.from_dict(json.loads(json.dumps(cell)))
        twin["id"] = f"{twin.get('id', 'cell')}-copy"
        nb.cells.insert(nb.cells.index(cell) + 1, twin)
    return nb


def fixture_path(aid: str) -> Path:
    """Where one assignment's wrong submissions live: tests/grading_fixtures/<aid>.py."""
    return FIXTURES / f"{aid}.py"


def missing_fixture_message(aid: str) -> str:
    return (f"solutions/{aid} has no fixture module: write {fixture_path(aid).relative_to(ROOT)} with SUBMISSIONS "
            "(3 or more plausible wrong submissions) and ROBUSTNESS (CONTRIBUTING.md, 'Add an assignment'; "
            "tests/grading_fixtures/README.md)")


def load_all_fixtures(assignments=None) -> tuple[dict, dict]:
    """({aid: fixture module} for the assignments that have one, {aid: why not} for the others),
    so that one assignment without fixtures fails its own test instead of stopping collection."""
    loaded, missing = {}, {}
    for aid in ASSIGNMENTS if assignments is None else assignments:
        if fixture_path(aid).is_file():
            loaded[aid] = load_fixtures(aid)
        else:
            missing[aid] = missing_fixture_message(aid)
    return loaded, missing


def load_fixtures(aid: str) -> dict:
    """The fixture module for one assignment: SUBMISSIONS (wrong answers) and ROBUSTNESS."""
    path = fixture_path(aid)
    if not path.is_file():
        raise FileNotFoundError(missing_fixture_message(aid))
    spec = importlib.util.spec_from_file_location(f"grading_fixture_{aid}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    absent = [name for name in ("SUBMISSIONS", "ROBUSTNESS") if not hasattr(module, name)]
    if absent:
        raise AttributeError(f"{path.relative_to(ROOT)} must define {' and '.join(absent)} (tests/grading_fixtures/README.md)")
    return module


def robustness_submissions(robust: dict) -> dict:
    """The four tampering cases, built for one assignment from ROBUSTNESS = {"answer": grade_id
    of one answer cell, "tests": the test cells that depend only on it}."""
    answer, tests = robust["answer"], robust["tests"]
    return {
        "exception": {  # the answer cell raises before it defines anything
            "replace": [(answer, "def ", "raise RuntimeError('work in progress')\n\ndef ", )],
            "fails": {t: "NameError" for t in tests},
        },
        "infinite-loop": {  # the answer cell never finishes: interrupted after the cell timeout
            "replace": [(answer, "def ", "while True:\n    pass\n\ndef ")],
            "fails": {t: "NameError" for t in tests},
        },
        "tampered-test": {  # the answer is the unfinished stub; its test cell is emptied
            "stub": [answer],
            "set": {tests[0]: "pass  # no tests, full marks?"},
            "fails": {t: "NotImplementedError" for t in tests},
        },
        "deleted-cell": {  # the answer cell is gone
            "delete": [answer],
            "fails": {t: "NameError" for t in tests},
        },
    }


def feedback_text(autograded_nb, grade_id: str) -> str:
    """The text a student sees under one cell of the autograded notebook (ANSI codes removed)."""
    cell = cells_by_id(autograded_nb)[grade_id]
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
            parts.extend(out.traceback)
        elif out.output_type == "stream":
            parts.append(out.text)
    return ANSI.sub("", "\n".join(parts))


CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")


def failing_part(cell) -> str:
    """Which part of a failed test cell (in an autograded notebook) raised: "visible", or "hidden"
    when the failing line lies inside its ### BEGIN/END HIDDEN TESTS block (read from the
    traceback's first frame, the test cell's own line)."""
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    if not errors:
        return "visible"  # stopped without a traceback (a timeout): before any hidden test could run
    found = CELL_LINE.search(ANSI.sub("", "\n".join(errors[0].traceback)))
    lines = cell.source.splitlines()
    begin = next((n for n, line in enumerate(lines, 1) if "### BEGIN HIDDEN TESTS" in line), None)
    if found is None or begin is None:
        return "visible"
    return "hidden" if int(found.group(1)) > begin else "visible"


def scores(course: Path, aid: str, student: str) -> dict:
    """grade_id -> score of every graded cell of one autograded submission, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(aid, aid, student)
        return {g.name: g.score for g in nb.grades}
