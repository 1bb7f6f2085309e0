"""CONTRIBUTING.md's checklists, followed literally in a copy of the repository (issue 24).

A contributor adds a 2D dataset and a small graded assignment exactly as the checklists say:
the code blocks of "Add a dataset" and "Add an assignment" are read from CONTRIBUTING.md and
executed (an edit block's first line names the file and where its lines go; a bash block is
a command, run in the copy), the files the checklist asks one to write are written, and the
tests the checklist names must pass. When the checklist and the code disagree, this fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^[ \t]*```(\w+)\n(.*?)^[ \t]*```", re.M | re.S)
WHERE = re.compile(r'^(?:#|<!--)\s*(\S+), (at the end|after the (?:(first|last) )?line that (starts with|contains) "(.*)")\s*(?:-->)?$')

DATASET = {"<name>": "pinwheel", "<kind>": "2d", "<what it is>": "2D: a five-armed pinwheel (10,000 points)"}
AID = "ex99_tiny"
ASSIGNMENT = {"exNN_name": AID, "<lesson>": "01_generative_modeling", "<what it asks>": "the mean of a sample",
              "<lesson title>": "01 generative modeling", "T (A + W)": "20 (15 + 5)", "| T |": "| 20 |"}


def section(title: str) -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def blocks(text: str, values: dict) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, the placeholders filled in, indentation kept relative."""
    found = []
    for lang, code in FENCE.findall(text):
        lines = code.splitlines()
        indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
        code = "\n".join(l[indent:] for l in lines) + "\n"
        for placeholder, value in values.items():
            code = code.replace(placeholder, value)
        found.append((lang, code))
    return found


def apply_edit(copy: Path, code: str) -> Path:
    """An edit block: its first line says which file and where the other lines go."""
    first, body = code.split("\n", 1)
    where = WHERE.match(first.strip())
    assert where, f"an edit block must start with '# <path>, <where>': {first!r}"
    path = copy / where.group(1)
    lines = path.read_text().splitlines(keepends=True)
    if where.group(2) == "at the end":
        at = len(lines)
    else:
        test = str.startswith if where.group(4) == "starts with" else str.__contains__
        hits = [i for i, line in enumerate(lines) if test(line, where.group(5))]
        assert hits, f"{where.group(1)} has no line that {where.group(4)} {where.group(5)!r}"
        at = (hits[-1] if where.group(3) == "last" else hits[0]) + 1
    text = body if not lines or lines[at - 1].endswith("\n") else "\n" + body
    lines.insert(at, text)
    path.write_text("".join(lines))
    return path


def run(copy: Path, command: str) -> subprocess.CompletedProcess:
    """A bash block's command in the copy, with this Python (pytest and scripts as the checklist names them)."""
    words = command.split()
    assert words[0] in ("pytest", "python"), f"unexpected command in the checklist: {command!r}"
    argv = [sys.executable, *(["-m", "pytest", "-p", "no:cacheprovider"] if words[0] == "pytest" else []), *words[1:]]
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=900)


def follow(copy: Path, text: str, values: dict, expand=lambda code: code) -> list[str]:
    """Execute a checklist's blocks in order: edits are applied, commands run and must succeed."""
    ran = []
    for lang, code in blocks(text, values):
        if lang in ("python", "markdown"):
            apply_edit(copy, expand(code))
            continue
        for command in filter(None, (line.strip() for line in code.splitlines())):
            start = time.perf_counter()
            proc = run(copy, command)
            assert proc.returncode == 0, f"`{command}` failed in the copy:\n{(proc.stdout + proc.stderr)[-5000:]}"
            ran.append(f"{command} ({time.perf_counter() - start:.0f} s)")
    return ran


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The repository's tracked files as they are in this working tree (no .git)."""
    dest = tmp_path_factory.mktemp("contributor") / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for rel in filter(None, files.stdout.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


# ----------------------------------------------------------------------------- (a) a 2D dataset

PINWHEEL = '''"""A pinwheel: a few curved arms around the origin, the 2D toy of the SVAE and flow papers."""

from __future__ import annotations

import math

import torch

from .._checks import check_seed
from .base import check_n
from .toy2d import Toy2D


def pinwheel(n: int = 10_000, seed: int = 0, arms: int = 5) -> Toy2D:
    """``n`` points on ``arms`` arms that curl more the further out they lie (``y``: the arm)."""
    n = check_n("n", n, (2,))
    gen = torch.Generator().manual_seed(check_seed("seed", seed))
    y = torch.randint(arms, (n,), generator=gen)
    radial = 1.0 + 0.3 * torch.randn(n, generator=gen)
    tangential = 0.05 * torch.randn(n, generator=gen)
    angle = y * (2 * math.pi / arms) + 0.25 * radial.exp()
    x = torch.stack([radial * angle.cos() - tangential * angle.sin(),
                     radial * angle.sin() + tangential * angle.cos()], dim=1)
    return Toy2D("pinwheel", 2.0 * x, y)
'''

PINWHEEL_TEST = '''import torch

from genlearn import data
from genlearn.data.pinwheel import pinwheel


def test_pinwheel_is_deterministic_by_seed_with_five_arms():
    a, b, c = pinwheel(400, seed=1), pinwheel(400, seed=1), pinwheel(400, seed=2)
    assert a.x.shape == (400, 2) and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert set(a.y.tolist()) == set(range(5))
    assert 1.0 < a.x.norm(dim=1).median() < 3.0


def test_pinwheel_is_registered_as_2d():
    assert data.dataset_info("pinwheel").kind == "2d" and "pinwheel" in data.TOY2D_NAMES
    assert torch.equal(data.toy2d("pinwheel", 50, seed=3).x, pinwheel(50, seed=3).x)
'''


def test_adding_a_2d_dataset_as_the_checklist_says(copy):
    text = section("Add a dataset")
    for path in ("genlearn/data/<name>.py", "tests/test_data_<name>.py", "genlearn/data/registry.py",
                 "tests/test_data.py", "EXPECTED_DATASETS"):
        assert path in text, f"the checklist no longer names {path}: update this test with it"
    (copy / "genlearn/data/pinwheel.py").write_text(PINWHEEL)
    (copy / "tests/test_data_pinwheel.py").write_text(PINWHEEL_TEST)
    ran = follow(copy, text, DATASET)
    assert any("test_data_pinwheel.py" in r and "test_recipes.py" in r for r in ran), ran
    print("\n".join(ran))


# ----------------------------------------------------------------------------- (c) an assignment

def _cell(kind: str, source: str, grade_id: str, *, grade=False, solution=False, locked=True, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    cell = {"cell_type": kind, "id": grade_id, "metadata": {"nbgrader": meta}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _test_cell(grade_id: str, source: str) -> dict:
    return _cell("code", source, grade_id, grade=True, points=5)


INTRO = """# Exercise 99: a tiny assignment

**Matches lesson** [`lessons/01_generative_modeling.ipynb`](../../lessons/01_generative_modeling.ipynb).

**Points: 20 in all.** 15 are autograded (three test cells, all or nothing), 5 are for your
written answer, graded by hand.

**How to work.** Write your code where it says `# YOUR CODE HERE` and delete the
`raise NotImplementedError()` line; write prose where it says `YOUR ANSWER HERE`.

**Grading rules.** Your notebook is graded in a sandbox. Tests call your functions through
`checked(...)`: a function that hands the work to genlearn's own implementation scores 0 for
that part, and so does an answer that is not a plain tensor, array or number. The tests run in
a kernel of their own. Anything that looks like an attempt to change how tests run is reported
to your instructor."""


def tiny_notebook() -> dict:
    cells = [
        _cell("markdown", INTRO, "intro"),
        _cell("code", "import torch\n\nfrom genlearn.grading.checks import checked", "setup"),
        _cell("code", "def sample_mean(x):\n    \"\"\"The mean of the rows of x (N, D).\"\"\"\n"
                      "    ### BEGIN SOLUTION\n    return x.sum(0) / len(x)\n    ### END SOLUTION",
              "answer_mean", solution=True, locked=False),
        _test_cell("test_mean", "x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])\n"
                                "assert torch.allclose(checked(sample_mean)(x), torch.tensor([2.0, 4.0])), "
                                "'the mean averages the rows: (1 + 3) / 2 = 2'"),
        _test_cell("test_mean_shape", "assert checked(sample_mean)(torch.ones(5, 3)).shape == (3,), "
                                      "'one mean per coordinate'"),
        _test_cell("test_mean_hidden", "assert checked(sample_mean)(torch.ones(1, 1)).item() == 1.0, "
                                       "'the mean of one row is that row'\n"
                                       "### BEGIN HIDDEN TESTS\ng = torch.Generator().manual_seed(0)\n"
                                       "x = torch.randn(100, 4, generator=g)\nm = checked(sample_mean)(x)\n"
                                       "assert m.shape == (4,) and torch.allclose(m, x.mean(0), atol=1e-6), "
                                       "'the mean of 100 random rows, one per coordinate'\n"
                                       "### END HIDDEN TESTS"),
        _cell("markdown", "Why does the mean of 1,000 points vary less than the mean of 10?\n\n"
                          "The standard error falls as one over the square root of N.",
              "written", grade=True, solution=True, locked=False, points=5),
    ]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}}


HIDDEN = "the mean of 100 random rows, one per coordinate"
FIXTURE = f'''"""Wrong submissions for ex99_tiny (see README.md)."""

SUBMISSIONS = {{
    "sum-not-mean": {{
        "mistake": "sums the rows instead of averaging them",
        "replace": [("answer_mean", "x.sum(0) / len(x)", "x.sum(0)")],
        "fails": {{"test_mean": "averages the rows", "test_mean_hidden": "{HIDDEN}"}},
    }},
    "mean-over-columns": {{
        "mistake": "averages each row's coordinates instead of each coordinate over the rows",
        "replace": [("answer_mean", "x.sum(0) / len(x)", "x.mean(1)")],
        "fails": {{"test_mean": "averages the rows", "test_mean_shape": "one mean per coordinate",
                  "test_mean_hidden": "{HIDDEN}"}},
    }},
    "lesson-copy": {{
        "mistake": "the lesson's robust centre: the median of each coordinate",
        "replace": [("answer_mean", "x.sum(0) / len(x)", "x.median(0).values")],
        "fails": {{"test_mean": "averages the rows", "test_mean_hidden": "{HIDDEN}"}},
        "lesson_copy": True,
    }},
}}

ROBUSTNESS = {{"answer": "answer_mean", "tests": ["test_mean", "test_mean_shape", "test_mean_hidden"]}}
'''
# What each wrong submission loses (visible, hidden only), by design of the tests above: the
# grading run checks these numbers against what nbgrader measures.
ROWS = {"sum-not-mean": ("sums the rows instead of averaging them", 5, 5),
        "mean-over-columns": ("averages each row's coordinates instead of each coordinate over the rows", 10, 5),
        "lesson-copy": ("the lesson's robust centre: the median of each coordinate", 5, 5)}


def with_rows(code: str) -> str:
    """The checklist's row template, once per wrong submission."""
    lines = []
    for line in code.splitlines(keepends=True):
        if "<submission>" not in line:
            lines.append(line)
            continue
        for name, (mistake, visible, hidden) in ROWS.items():
            lines.append(line.replace("<submission>", name).replace("<mistake>", mistake)
                         .replace("<visible>", str(visible)).replace("<hidden>", str(hidden))
                         .replace("<why hidden>", ""))
    return "".join(lines)


@pytest.mark.grading
def test_adding_an_assignment_as_the_checklist_says(copy):
    text = section("Add an assignment")
    for path in ("solutions/exNN_name/exNN_name.ipynb", "tests/grading_fixtures/exNN_name.py",
                 "scripts/release_exercises.py", "docs/instructors.md", "docs/students.md",
                 "15 to 30 in all, a multiple of 5", "**Grading rules.**", "**Points: T in all.**"):
        assert path in text, f"the checklist no longer names {path!r}: update this test with it"
    source = copy / "solutions" / AID / f"{AID}.ipynb"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps(tiny_notebook(), indent=1))
    (copy / "tests/grading_fixtures" / f"{AID}.py").write_text(FIXTURE)
    # the grading run is real nbgrader on 13 submissions of the tiny assignment: 2 minutes
    # on a busy 2-core machine (measured 2026-12), most of it kernels starting
    ran = follow(copy, text, ASSIGNMENT, expand=with_rows)
    assert any(f"test_grading.py -k {AID}" in r for r in ran), ran
    assert (copy / "exercises" / AID / f"{AID}.ipynb").is_file(), "the release script made no release"
    assert any("test_grading.py" in r for r in ran) and any("release_exercises.py" in r for r in ran), ran
    for guide in ("docs/instructors.md", "docs/students.md"):
        assert AID in (copy / guide).read_text(), f"the checklist's edit did not reach {guide}"
    assert "| `mean-over-columns` |" in (copy / "docs/instructors.md").read_text()
    print("\n".join(ran))


def test_a_checklist_that_disagrees_with_the_code_fails(copy, tmp_path):
    """The executor itself: an edit block whose anchor is gone, or a failing command, fails."""
    target = tmp_path / "f.py"
    target.write_text("a = 1\n")
    with pytest.raises(AssertionError, match="has no line that starts with 'NOT_THERE'"):
        apply_edit(tmp_path, '# f.py, after the line that starts with "NOT_THERE"\nb = 2\n')
    apply_edit(tmp_path, "# f.py, at the end\nb = 2\n")
    assert target.read_text() == "a = 1\nb = 2\n"
    with pytest.raises(AssertionError, match="failed in the copy"):
        follow(copy, "```bash\npytest tests/test_no_such_file.py -q\n```\n", {})
