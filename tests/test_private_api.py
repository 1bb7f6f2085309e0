"""The private parts of nbgrader, nbconvert, nbclient and jupyter_client that genlearn/grading
overrides or calls: each still exists, with the signature genlearn calls it with, and
pyproject.toml caps each of those packages below the next release that may change them.

When this fails after an upgrade, read the changed method in the new release, adapt
genlearn/grading, then move the cap (and PRIVATE below) to the release you checked.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "genlearn" / "grading"

# (distribution, "module:Class", member, parameters genlearn passes or accepts (None: an attribute),
#  where genlearn relies on it)
PRIVATE = [
    ("nbgrader", "nbgrader.converters:Autograde", "_init_preprocessors", ["self"],
     "autograde.SafeAutograde overrides it to insert RepairMetadata"),
    ("nbgrader", "nbgrader.converters:Autograde", "_sanitizing", None,
     "autograde.SafeAutograde reads it: is this the sanitizing pass"),
    ("nbgrader", "nbgrader.converters.base:BaseConverter", "_format_source",
     ["self", "assignment_id", "student_id", "escape"], "autograde.SafeAutograde.init_assignment"),
    ("nbgrader", "nbgrader.converters.base:BaseConverter", "_format_dest",
     ["self", "assignment_id", "student_id", "escape"], "autograde.SafeAutograde.init_assignment"),
    ("nbconvert", "nbconvert.exporters:NotebookExporter", "_preprocessors", None,
     "autograde.SafeAutograde inserts into the exporter's preprocessor list"),
    ("nbconvert", "nbconvert.preprocessors:ExecutePreprocessor", "_check_assign_resources", ["self", "resources"],
     "execute.SandboxedExecute.preprocess"),
    ("nbclient", "nbclient:NotebookClient", "_async_cleanup_kernel", ["self"], "execute._stop"),
    ("jupyter_client", "jupyter_client.manager:KernelManager", "_async_launch_kernel", ["self", "kernel_cmd", "kw"],
     "sandbox.SandboxKernelManager overrides it to start the kernel in the sandbox"),
    ("jupyter_client", "jupyter_client.manager:KernelManager", "_async_interrupt_kernel", ["self"],
     "sandbox.SandboxKernelManager overrides it: interrupt by message"),
    ("jupyter_client", "jupyter_client.manager:KernelManager", "_async_cleanup_resources", ["self", "restart"],
     "sandbox.SandboxKernelManager overrides it to dispose of the sandbox"),
    ("jupyter_client", "jupyter_client.manager:KernelManager", "_connect_control_socket", ["self"],
     "sandbox.SandboxKernelManager._async_interrupt_kernel"),
    ("jupyter_client", "jupyter_client.manager:KernelManager", "_control_socket", None,
     "sandbox.SandboxKernelManager._async_interrupt_kernel sends on it"),
]
PACKAGES = sorted({dist for dist, *_ in PRIVATE})


def _owner(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _instance_attribute(cls, member: str) -> bool:
    """An attribute a class sets on its instances (a trait, a class attribute, or `self.x = ` in its code)."""
    if hasattr(cls, member):
        return True
    pattern = re.compile(rf"self\.{re.escape(member)}\s*(:[^=]*)?=")
    return any(pattern.search(inspect.getsource(c)) for c in cls.__mro__ if c.__module__.split(".")[0] != "builtins")


@pytest.mark.parametrize("dist, owner, member, params, why", PRIVATE, ids=[f"{o.split(':')[1]}.{m}" for _, o, m, _, _ in PRIVATE])
def test_private_member_genlearn_relies_on_is_there(dist, owner, member, params, why):
    cls = _owner(owner)
    if params is None:
        assert _instance_attribute(cls, member), f"{owner}.{member} is gone in {dist} " \
            f"{importlib.metadata.version(dist)} ({why})"
        return
    method = getattr(cls, member, None)
    assert callable(method), f"{owner}.{member} is gone in {dist} {importlib.metadata.version(dist)} ({why})"
    got = list(inspect.signature(method).parameters)
    assert got == params, (f"{owner}.{member} now takes ({', '.join(got)}), genlearn calls it with "
                           f"({', '.join(params)}) ({why})")


def _pins() -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + [r for extra in meta["optional-dependencies"].values() for r in extra]
    return {Requirement(r).name.replace("-", "_"): Requirement(r) for r in reqs if not r.startswith("genlearn")}


@pytest.mark.parametrize("dist", PACKAGES)
def test_packages_with_private_use_are_capped_and_admit_the_installed_release(dist):
    req = _pins().get(dist)
    assert req is not None, f"pyproject.toml does not list {dist}, whose private members genlearn/grading uses"
    uppers = [s for s in req.specifier if s.operator == "<"]
    lowers = [s for s in req.specifier if s.operator == ">="]
    assert len(uppers) == 1 and len(lowers) == 1, f"{req}: expected '>=floor,<next release that may change it'"
    upper = Version(uppers[0].version)
    assert upper.release[0] > 0 or len(upper.release) >= 2, f"{req}: cap it below the next 0.x minor release"
    installed = importlib.metadata.version(dist)
    assert req.specifier.contains(installed, prereleases=True), f"{req} excludes the installed {dist} {installed}"


def test_the_list_covers_every_private_name_genlearn_grading_reaches_into():
    """Any `x._name` in genlearn/grading that genlearn itself never defines belongs to a base
    class from one of these packages: it must be in PRIVATE (so the pins above protect it)."""
    source = {p: p.read_text() for p in GRADING.glob("*.py")}
    everything = "\n".join(source.values())
    used = set(re.findall(r"\b[a-z_]+\.(_[a-z][a-z0-9_]*)", everything))
    # genlearn's own: a def, or an assignment (`self.x = `, `self.x: T = `, `self.a, self.x = `)
    defined = {n for n in used if re.search(rf"def {n}\b|\.{n}\b[^\n=()]*[^=!<>]=(?!=)|^\s*{n}\s*=", everything, re.M)}
    stdlib_or_torch = {"_getframe", "_exit", "_run_exitfuncs", "_modules", "_parameters", "_buffers", "_non_persistent_buffers_set",
                       "_dynamo", "_assign"}
    known = {member for _, _, member, _, _ in PRIVATE}
    unlisted = sorted(used - defined - stdlib_or_torch - known)
    assert not unlisted, f"genlearn/grading uses private members not checked here: {unlisted}"
