"""Honest but unusual submissions grade exactly like the plain solution, and no report calls
them tampering.

Each of these once scored 0 on every later test while the tests ran in the student's own
kernel and the source scan decided grades (issue 20): ``from IPython.display import display,
clear_output``, ``display('working on it')``, a string that mentions ``get_ipython``. Now the
tests run in the grader's kernel, and the guard and the scan only report; this checks that
they also report nothing for honest code. Graded by real nbgrader with the course's config.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

import grading_tools as gt

pytestmark = pytest.mark.grading

DISPLAY = ("from IPython.display import display, clear_output\n\n", "    display('working on it')\n"
           "    clear_output(wait=True)\n")
IDIOMS = {
    "ex01_likelihood": {
        "display": {"replace": [("answer_sample_mixture", "def sample_mixture", DISPLAY[0] + "def sample_mixture"),
                                ("answer_sample_mixture", '    """\n', '    """\n' + DISPLAY[1])]},
        "magics": {"replace": [("answer_fit_gaussian", "def fit_gaussian",
                                "%matplotlib inline\n%time _warm = sum(range(1000))\n\ndef fit_gaussian")]},
        "hook-names-in-text": {"replace": [("answer_mixture_log_prob", "def mixture_log_prob", (
            "# I never touch get_ipython().ast_transformers, sys.settrace or builtins.abs\n"
            "NOTE = 'get_ipython().events.register would be cheating; so would exec or __code__'\n\n"
            "def mixture_log_prob"))]},
        "inspect-tqdm-scipy-helpers": {"replace": [("answer_fit_gaussian", "def fit_gaussian", (
            "import inspect\nimport scipy.stats\nfrom tqdm.auto import tqdm\n\n\n"
            "class Running:\n    \"\"\"A helper class: a running mean.\"\"\"\n\n"
            "    def __init__(self):\n        self.total, self.n = 0.0, 0\n\n"
            "    def __call__(self, value):\n        self.total += value\n        self.n += 1\n"
            "        return self.total / self.n\n\n\n"
            "ARGS = list(inspect.signature(sorted).parameters)\n"
            "for _ in tqdm(range(3), desc='warming up'):\n    Running()(scipy.stats.norm.pdf(0.0))\n\n"
            "def fit_gaussian"))]},
    },
    "ex02_vae": {
        "progress-while-training": {"replace": [("answer_train_vae", "    return losses", (
            "    from IPython.display import display\n"
            "    display(f'trained {len(losses)} steps')\n"
            "    return losses"))]},
    },
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    roots = {aid: tmp_path_factory.mktemp("idioms") for aid in IDIOMS}  # made here, not in the threads

    def grade(aid):
        idioms = IDIOMS[aid]
        course = gt.new_course(roots[aid] / aid, [aid])
        released = gt.generate(course, aid)
        source = nbformat.read(course / "solutions" / aid / f"{aid}.ipynb", 4)
        release = nbformat.read(released, 4)
        solved = gt.student_notebook(source, release)
        subs = {"plain": solved, **{name.replace("-", "_"): gt.apply_edits(solved, spec, release)
                                    for name, spec in idioms.items()}}
        for sid, nb in subs.items():
            path = course / "submitted" / sid / aid / f"{aid}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(nb, str(path))
        proc = gt.nbgrader(["autograde", aid, "--force"], course, timeout=1200)
        return {"course": course, "proc": proc, "tests": gt.test_cells(source)}

    with ThreadPoolExecutor(max_workers=2) as pool:  # two autogrades at a time, as in tests/test_grading.py
        return dict(zip(IDIOMS, pool.map(grade, IDIOMS)))


CASES = [(aid, name) for aid, idioms in IDIOMS.items() for name in idioms]


@pytest.mark.parametrize("aid,name", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_honest_idiom_grades_like_the_plain_solution_and_is_not_called_tampering(graded, aid, name):
    r = graded[aid]
    assert r["proc"].returncode == 0, (r["proc"].stdout + r["proc"].stderr)[-3000:]
    sid = name.replace("-", "_")
    plain, got = gt.scores(r["course"], aid, "plain"), gt.scores(r["course"], aid, sid)
    assert {g: plain[g] for g in r["tests"]} == r["tests"], "the plain solution itself lost points"
    assert {g: got[g] for g in r["tests"]} == r["tests"], got
    report = json.loads((r["course"] / "grading_reports" / aid / sid / f"{aid}.json").read_text())
    assert not report["tampered"] and not report["tampering"] and not report["static"], json.dumps(report)[:2000]
    log = r["proc"].stdout + r["proc"].stderr
    assert f"TAMPERING {sid} " not in log and f"REVIEW {sid} " not in log
