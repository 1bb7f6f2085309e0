"""The library's import rules (DESIGN.md, CONTRIBUTING.md): arrows run one way.

Every ``import`` in every module of ``genlearn`` is read from its source (function-local ones
too, so a deferred import cannot dodge a rule) and checked against ``ALLOWED``: the parts of
the library each part may import. ``models/`` knows no training loop, dataset or device
choice; ``data/`` knows no model; nothing below the widgets and the CLI imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "genlearn"

# part of genlearn -> the parts it may import (its own submodules are always allowed)
ALLOWED: dict[str, set[str]] = {
    "_checks": set(),
    "atomic": set(),
    "_cpus": set(),
    "device": {"_checks", "_cpus"},
    "audio": {"_checks"},
    "plot": {"_checks"},
    "data": {"_checks"},
    "models": {"_checks"},
    "metrics": {"_checks", "data"},
    "risk": {"_checks"},
    "latent": {"_checks", "models"},
    "train": {"_checks", "data", "device", "models"},
    "checkpoints": {"_checks", "atomic", "device", "models"},
    "features": {"_checks", "atomic", "data", "device", "metrics", "models", "train"},
    "ethics": {"_checks", "device", "metrics", "models", "train"},
    "recipes": {"_checks", "atomic", "data", "device", "models", "metrics", "train", "features"},
    "widgets": {"_checks", "data", "device", "models", "metrics", "latent", "plot", "train",
                "features", "ethics", "checkpoints", "recipes", "atomic"},
    "cli": {"_checks", "atomic", "data", "device", "models", "plot", "checkpoints", "recipes"},
    # Grading runs beside untrusted code: it imports nothing of the library (the functions
    # checks.own_work guards are named by string and looked up only when a check runs).
    "grading": set(),
    # The instructor's command line: nbgrader and the OS, plus the CLI's parser and checks.
    "course": {"_checks", "cli", "_cpus"},
    "__init__": {"device"},
}
# Never imported by the library: the course material and the tests.
OUTSIDE = {"lessons", "solutions", "exercises", "tests", "notebook_runner", "grading_tools", "browser_support"}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def module_name(path: Path) -> str:
    return ".".join(("genlearn",) + path.relative_to(PACKAGE).with_suffix("").parts)


def is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (the source of ``module``),
    relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            if node.level and not node.module:  # "from .. import plot": a module, or a name in __init__
                found += [(node.lineno, f"{stem}.{alias.name}" if is_module(f"{stem}.{alias.name}") else stem)
                          for alias in node.names]
            else:
                found.append((node.lineno, stem))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_part_of_the_library_has_a_rule():
    parts = {part_of(p) for p in SOURCES}
    assert {"models", "data", "train", "widgets", "cli", "device"} <= parts
    core = set(ALLOWED) - {"__init__"}
    missing = {"models", "data", "train", "latent", "recipes", "checkpoints", "features", "plot",
               "grading", "course"} - core
    assert not missing, f"no import rule for {sorted(missing)}"


def broken_rules(part: str, found: list[tuple[int, str]]) -> list[str]:
    broken = []
    for line, name in found:
        top = name.split(".")[0]
        if top in OUTSIDE:
            broken.append(f"line {line}: imports {name} (course material or tests)")
        if top != "genlearn" or name == "genlearn":
            continue
        target = name.split(".")[1]
        if target == part:
            continue
        allowed = ALLOWED.get(part)
        if allowed is None:  # a part with no rule yet (a new package): only the core rules apply
            allowed = set(ALLOWED) - {"__init__"}
        if target not in allowed:
            broken.append(f"line {line}: genlearn.{part} imports {name}")
    return broken


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_rules(path):
    broken = broken_rules(part_of(path), imports(path, module_name(path)))
    assert not broken, f"{path.relative_to(PACKAGE.parent)} breaks the import rules:\n" + "\n".join(broken)


def test_the_rules_have_no_cycle():
    seen: dict[str, int] = {}

    def depth(part: str, stack: tuple[str, ...] = ()) -> int:
        assert part not in stack, f"import cycle: {' -> '.join(stack + (part,))}"
        if part not in seen:
            seen[part] = 1 + max((depth(p, stack + (part,)) for p in ALLOWED.get(part, ())), default=0)
        return seen[part]

    for part in ALLOWED:
        depth(part)


def test_the_checker_sees_deferred_and_relative_imports(tmp_path):
    """The rule test can fail: a function-local relative import of train inside models."""
    probe = tmp_path / "probe.py"
    probe.write_text("import torch\n\ndef f():\n    from ..train import History\n    from .. import device\n")
    found = imports(probe, "genlearn.models.probe")
    assert (4, "genlearn.train") in found and (5, "genlearn.device") in found
    assert broken_rules("models", found) == ["line 4: genlearn.models imports genlearn.train",
                                             "line 5: genlearn.models imports genlearn.device"]
    assert broken_rules("widgets", found) == []
