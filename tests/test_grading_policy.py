"""genlearn.grading.policy: what the source of a student cell gives away (reported, never scored)."""

from __future__ import annotations

import nbformat
import pytest

from genlearn.grading.policy import REVIEW, TAMPER, bound_names, free_names, imported_names, scan
from release_exercises import ASSIGNMENTS, SOURCE

IMPORTS = {"np": "numpy", "torch": "torch", "math": "math", "F": "torch.nn.functional"}


@pytest.mark.parametrize("source, severity, words", [
    ("get_ipython().ast_transformers.append(t)", TAMPER, "IPython"),
    ("import sys\nsys.settrace(f)", TAMPER, "trace"),
    ("import os\nos._exit(0)", TAMPER, "ends the kernel"),
    ("exec('x = 1')", REVIEW, "code built from text"),
    ("y = eval('1 + 1')", REVIEW, "code built from text"),
    ("import gc", TAMPER, "imports gc"),
    ("import ctypes", TAMPER, "imports ctypes"),
    ("import builtins\nbuiltins.abs = lambda x: 0", TAMPER, "builtins"),
    ("f.__code__ = g.__code__", TAMPER, "__code__"),
    ("x = fn.__closure__[0].cell_contents", TAMPER, "interpreter internals"),
    ("import sys\nsys.excepthook = print", TAMPER, "sys.excepthook"),
    ("exit()", TAMPER, "exits the kernel"),
    ("globals()['check'] = None", REVIEW, "namespace"),
    ("ip = get_ipython()\nip.events.register('pre_run_cell', f)", TAMPER, "events"),
    ("get_ipython().set_custom_exc((Exception,), h)", TAMPER, "set_custom_exc"),
    ("from IPython.core import interactiveshell", REVIEW, "IPython"),
    ("np.allclose = lambda *a: True", REVIEW, "np.allclose"),
    ("setattr(torch, 'allclose', f)", REVIEW, "torch"),
    ("import traitlets", REVIEW, "traitlets"),
])
def test_tampering_is_named(source, severity, words):
    found = scan(source, IMPORTS)
    assert any(f.severity == severity and words in f.what for f in found), found


@pytest.mark.parametrize("source", [
    "def f(x):\n    return x.sum(1)",
    "%timeit sum(range(10))\n!echo hi",          # magics run as IPython would run them
    "class M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = 1",
    "torch.manual_seed(0)\nnp.random.seed(0)",
    "x = {'a': 1}\nx['a'] = 2",
    "def broken(:\n    pass",                    # a syntax error is the student's to fix, not tampering
    # honest idioms (issue 20: each of these once zeroed an honest solution)
    "from IPython.display import display, clear_output\ndisplay('working on it')\nclear_output(wait=True)",
    "import IPython.display as ipd\nipd.display(ipd.HTML('<b>hi</b>'))",
    "from IPython import display",
    "# get_ipython().ast_transformers would be cheating\nnote = 'never call get_ipython().events'",
    "%matplotlib inline\n%time y = sum(range(10))",
    "%%time\nz = 1",
    "import inspect\nparams = inspect.signature(sorted).parameters",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)):\n    pass",
    "import scipy.linalg\nclass Helper:\n    def __call__(self, x):\n        return x",
])
def test_ordinary_code_is_not_flagged(source):
    assert scan(source, IMPORTS) == []


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_the_solutions_themselves_are_clean(aid):
    """Honest answers must never be flagged: the model solutions and every ungraded editable cell."""
    nb = nbformat.read(SOURCE / aid / f"{aid}.ipynb", 4)
    imports = imported_names([c.source for c in nb.cells if c.cell_type == "code"])
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("locked"):
            assert scan(cell.source, imports) == [], (meta.get("grade_id"), scan(cell.source, imports))


def test_bound_and_imported_names():
    src = "import torch.nn.functional as F\nfrom genlearn.data import digits, toy2d\nimport math\nx, (y, z) = 1, (2, 3)\ndef helper():\n    inner = 1"
    assert bound_names(src) == ["F", "digits", "helper", "math", "toy2d", "x", "y", "z"]
    assert imported_names([src])["F"] == "torch.nn.functional"
    assert imported_names([src])["digits"] == "genlearn.data.digits"


def test_free_names_are_what_a_cell_needs_from_elsewhere():
    """Only these are asked of the student's kernel: a hidden test's own variable names never are."""
    src = ("x = torch.zeros(3)\nspread = checked(sample_mixture)(x, n=5)[0].std()\n"
           "def avg_ll(s, k=2):\n    return (data - mean).sum() / s\n"
           "for i in range(3):\n    total = [j for j in range(i)]\n"
           "try:\n    pass\nexcept ValueError as err:\n    print(err)\nimport math as m\nm.log(helper)")
    assert free_names(src) == ["checked", "data", "helper", "mean", "sample_mixture", "torch"]
