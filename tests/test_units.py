"""Units a newcomer can hold in their head (issue 24): no function in genlearn/ over 60 lines,
and no scalar range check written by hand outside genlearn/_checks.py.

Both read the source (AST), so they cost nothing to run and name the offender: a function's
length counts from its ``def`` line to its last line, nested functions included; a hand-written
range check is a ``raise ValueError(...)`` whose message says ``X must be > 0``, ``>= N``,
``at least N``, ``in [a, b]``, ``in 0..N``, ``between``, ``positive``, or ``a number/probability
in ...``. Shape checks (``must be (N, C, H, W)``, ``must be 2D``) are not range checks and are left
alone; so are messages the rule cannot read (a variable, a call).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genlearn"
CHECKS = PACKAGE / "_checks.py"
MAX_LINES = 60
RANGE = re.compile(
    r"must be (?:an? (?:finite |whole )?(?:number|integer|probability|fraction|share) )?"
    r"(?:[<>]=?\s*-?[\w{]|at least|at most|between|positive|non-?negative|in [\[(]|in -?[\w{][^ ]*\.\.)")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def long_functions(path: Path, tree: ast.AST | None = None) -> list[str]:
    tree = tree or ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_LINES]


def message_text(node: ast.expr) -> str | None:
    """The text of a message: a string, an f-string (each {...} as '{'), or a concatenation (a
    part that is not text as '{'); None when none of it is text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = message_text(node.left), message_text(node.right)
        return None if left is None and right is None else (left or "{") + (right or "{")
    return None


def range_checks(path: Path, tree: ast.AST | None = None) -> list[str]:
    tree = tree or ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "ValueError" and node.exc.args):
            continue
        text = message_text(node.exc.args[0])
        if text is not None and RANGE.search(text):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {text[:80]!r}")
    return found


def test_no_function_in_genlearn_is_over_60_lines():
    offenders = [line for path in _sources() for line in long_functions(path)]
    assert offenders == [], "split these into named parts of at most 60 lines:\n" + "\n".join(offenders)


def test_scalar_range_checks_go_through_checks():
    offenders = [line for path in _sources() if path != CHECKS for line in range_checks(path)]
    assert offenders == [], ("use genlearn._checks (check_positive_int, check_at_least, check_positive, "
                             "check_range, check_fraction, check_number, ...):\n" + "\n".join(offenders))


SNIPPETS = {  # message -> is it a scalar range check?
    'f"n must be >= 2, got {n}"': True,
    'f"eps must be > 0, got {eps}"': True,
    'f"size must be at least {low} tiles, got {size}"': True,
    'f"lesion_rate must be in [0, 1], got {r}"': True,
    'f"level must be a probability in (0, 1), got {level!r}"': True,
    'f"t must be in 0..{T}, got {t}"': True,
    'f"{name} must be a finite number >= 0, got {value!r}"': True,
    '"k must be between 1 and " + str(n)': True,
    '"beta must be positive"': True,
    'f"z must be (B, {d}), got {tuple(z.shape)}"': False,
    'f"images must be (N, C, H, W) or (N, H, W), got shape {x.shape}"': False,
    'f"returns must be 1D with at least {w} values, got shape {r.shape}"': False,
    'f"shape must be (C, H, W) of positive integers, got {shape!r}"': False,
    '"models must be a non-empty {label: model} dict"': False,
    '"scores must be finite"': False,
    'f"dims must be latent indices in 0..{d - 1}, got {dims}"': False,
}


@pytest.mark.parametrize("message, flagged", SNIPPETS.items())
def test_the_range_rule_flags_range_checks_and_not_shape_checks(message, flagged):
    path = PACKAGE / "example.py"  # never written: parsed from text, named as if in the package
    tree = ast.parse(f"def f(n):\n    if n < 2:\n        raise ValueError({message})\n")
    assert bool(range_checks(path, tree)) is flagged


def test_the_length_rule_counts_from_def_to_the_last_line_nested_functions_included():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 3))
    fits = f"@decorator\ndef f():\n    def g():\n        pass\n{body}\n"           # def .. last line: 60
    tree = ast.parse(fits)
    assert long_functions(PACKAGE / "example.py", tree) == []
    tree = ast.parse(fits + "    return x0\n")
    assert long_functions(PACKAGE / "example.py", tree) == ["genlearn/example.py:2 f (61 lines)"]
