"""The Binder environment (binder/) stays in step with the package and does what docs/binder.md says.

repo2docker reads only binder/ when that folder exists: requirements.txt (pip, run from the
repository root, so "." is this package), runtime.txt (the Python version) and postBuild.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FIRST_NOTEBOOK = "lessons/00_welcome.ipynb"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _binder_lines() -> list[str]:
    lines = []
    for raw in (BINDER / "requirements.txt").read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _binder_requirements() -> dict[str, Requirement]:
    """Named requirements (not options, not the local package) by canonical name."""
    reqs = {}
    for line in _binder_lines():
        if line.startswith("-") or line.startswith("."):
            continue
        req = Requirement(line)
        reqs[canonicalize_name(req.name)] = req
    return reqs


def _pinned(req: Requirement) -> Version:
    pins = [s for s in req.specifier if s.operator == "=="]
    assert len(pins) == 1, f"binder/requirements.txt: pin {req.name} to one version (==), got '{req.specifier}'"
    return Version(pins[0].version)


def test_binder_folder_is_what_repo2docker_reads():
    for name in ("requirements.txt", "runtime.txt", "postBuild"):
        assert (BINDER / name).is_file(), f"binder/{name} is missing"
    # Files repo2docker would otherwise prefer or mix in; binder/ hides root files, so a root
    # copy would only mislead readers into editing the wrong one.
    for name in ("requirements.txt", "environment.yml", "runtime.txt", "postBuild", "apt.txt"):
        assert not (ROOT / name).exists(), f"{name} at the root is ignored by repo2docker (binder/ wins): remove it"


def test_requirements_cover_runtime_dependencies():
    """Every runtime dependency of genlearn is pinned in binder/requirements.txt, to a version
    its pyproject.toml specifier accepts, so Binder resolves nothing on its own."""
    binder = _binder_requirements()
    for dep in _project()["dependencies"]:
        req = Requirement(dep)
        name = canonicalize_name(req.name)
        assert name in binder, f"{req.name} (a runtime dependency in pyproject.toml) is missing from binder/requirements.txt"
        pinned = _pinned(binder[name])
        assert req.specifier.contains(pinned, prereleases=True), \
            f"binder pins {req.name}=={pinned}, but pyproject.toml asks for {req.name}{req.specifier}"


def test_requirements_cover_what_the_course_needs_in_jupyterlab():
    binder = _binder_requirements()
    for name in ("jupyterlab", "ipywidgets", "jupyterlab-widgets", "nbgrader", "ipykernel"):
        assert canonicalize_name(name) in binder, f"binder/requirements.txt lacks {name}"
        _pinned(binder[canonicalize_name(name)])
    course = {canonicalize_name(Requirement(d).name): Requirement(d) for d in _project()["optional-dependencies"]["course"]}
    for name, req in course.items():
        if name in binder:
            assert req.specifier.contains(_pinned(binder[name]), prereleases=True), \
                f"binder pins {binder[name]}, but the course extra asks for {req}"


def test_torch_is_the_cpu_build():
    """A CUDA build of torch (PyPI's default on Linux) would not fit Binder: pin the +cpu wheel."""
    torch = _binder_requirements()["torch"]
    version = _pinned(torch)
    assert version.local == "cpu", f"pin torch to a CPU build, e.g. torch=={version.base_version}+cpu; got {torch}"
    options = " ".join(line for line in _binder_lines() if line.startswith("--"))
    assert f"--extra-index-url {PYTORCH_CPU_INDEX}" in options, \
        f"binder/requirements.txt must add PyTorch's CPU index ({PYTORCH_CPU_INDEX}) for the +cpu wheel"
    assert "--index-url" not in options.replace("--extra-index-url", ""), \
        "do not replace PyPI: the Jupyter packages are not on PyTorch's index"


def test_requirements_are_a_cacheable_layer_of_pinned_dependencies_only():
    """repo2docker installs requirements.txt before copying the repository, as a cached image
    layer, only when the file names nothing inside the repository: no '.', '-e', file: or git
    line. Then postBuild's `pip install --no-deps .` installs nothing else, so every dependency
    of the package and of the course extra must be pinned here."""
    local = [line for line in _binder_lines()
             if line.startswith((".", "-e", "--editable", "file:", "git+", "-r", "-c")) or "@ " in line]
    assert not local, f"binder/requirements.txt must hold pinned dependencies only (postBuild installs genlearn): {local}"
    binder = _binder_requirements()
    for dep in _project()["dependencies"] + _project()["optional-dependencies"]["course"]:
        name = canonicalize_name(Requirement(dep).name)
        assert name in binder, f"{dep} is installed by nothing on Binder: pin it in binder/requirements.txt"
        _pinned(binder[name])


def test_postbuild_installs_the_package_without_dependencies():
    """postBuild installs genlearn with --no-deps (its dependencies come from the cached layer),
    before anything in postBuild imports it."""
    commands = [line.strip() for line in (BINDER / "postBuild").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    installs = [i for i, line in enumerate(commands) if re.fullmatch(r"python -m pip install( --\S+)* \.", line)]
    assert len(installs) == 1, f"postBuild should install this package once with pip install --no-deps .: {commands}"
    line = commands[installs[0]]
    assert "--no-deps" in line.split(), f"postBuild must install genlearn with --no-deps, got: {line}"
    first_python = next(i for i, cmd in enumerate(commands) if cmd.startswith(("python", "jupyter")))
    assert installs[0] == first_python, "install genlearn before postBuild's other commands use the environment"


def test_runtime_python_is_supported():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(3\.\d+)", runtime)
    assert match, f"binder/runtime.txt should read python-3.X, got {runtime!r}"
    requires = SpecifierSet(_project()["requires-python"])
    assert requires.contains(match.group(1) + ".0"), f"{runtime} does not satisfy requires-python {requires}"


def test_postbuild_is_an_executable_bash_script():
    path = BINDER / "postBuild"
    assert os.access(path, os.X_OK), "binder/postBuild must be executable (git update-index --chmod=+x)"
    assert path.read_text().startswith("#!/bin/bash")
    subprocess.run(["bash", "-n", str(path)], check=True)


def _postbuild_lab_plugins() -> list[str]:
    text = (BINDER / "postBuild").read_text()
    return re.findall(r'"(@[\w-]+/[\w-]+:[\w-]+)"', text)


def _postbuild_server_extensions() -> dict:
    text = (BINDER / "postBuild").read_text()
    block = re.search(r"<<'JSON'\n(.*?)\nJSON", text, re.S).group(1)
    return json.loads(block)["ServerApp"]["jpserver_extensions"]


def test_postbuild_names_real_extensions():
    """The lab plugins and server extensions postBuild turns off exist (a typo would silently
    do nothing), and Validate stays on."""
    plugins = _postbuild_lab_plugins()
    assert "@jupyterlab/apputils-extension:announcements" in plugins
    lab_extensions = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    nbgrader_js = "".join(p.read_text(errors="ignore") for p in (lab_extensions / "@jupyter" / "nbgrader").rglob("*.js"))
    assert nbgrader_js, "nbgrader's lab extension is not installed here; install genlearn[course]"
    for plugin in plugins:
        if plugin.startswith("@jupyter/nbgrader:"):
            assert f'"{plugin}"' in nbgrader_js, f"postBuild disables {plugin}, which nbgrader's lab extension does not have"
    assert "@jupyter/nbgrader:validate-assignment" not in plugins, "students on Binder need nbgrader's Validate button"


def test_postbuild_turns_off_the_instructor_server_extensions(tmp_path):
    """nbgrader enables its server extensions in <prefix>/etc/jupyter/jupyter_server_config.d/
    nbgrader.json; postBuild's file in the same folder must sort after it (a later file wins)
    and name the same modules. Checked with jupyter_server's own config reader."""
    from jupyter_server.extension.config import ExtensionConfigManager

    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "nbgrader.json"
    assert installed.is_file(), "nbgrader's server config is not installed here; install genlearn[course]"
    text = (BINDER / "postBuild").read_text()
    name = re.search(r'"\$\{server_config_d\}/([\w.-]+\.json)"', text).group(1)
    assert name > installed.name, f"{name} must sort after {installed.name} to override it"
    config_d = tmp_path / "jupyter_server_config.d"
    config_d.mkdir()
    (config_d / installed.name).write_text(installed.read_text())
    (config_d / name).write_text(json.dumps({"ServerApp": {"jpserver_extensions": _postbuild_server_extensions()}}))
    enabled = ExtensionConfigManager(read_config_path=[str(tmp_path)]).get_jpserver_extensions()
    nbgrader_modules = json.loads(installed.read_text())["ServerApp"]["jpserver_extensions"]
    assert set(_postbuild_server_extensions()) <= set(nbgrader_modules), "postBuild names modules nbgrader does not enable"
    assert enabled["nbgrader.server_extensions.formgrader"] is False
    assert enabled["nbgrader.server_extensions.validate_assignment"] is True, "Validate needs its server extension"


def _badge_links() -> list[str]:
    text = (ROOT / "docs" / "binder.md").read_text()
    return re.findall(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", text)


def test_badge_opens_the_first_lesson():
    links = _badge_links()
    assert links, "docs/binder.md has no mybinder.org badge link"
    for link in links:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(link.strip("()")).query)
        urlpath = query.get("urlpath", [""])[0]
        assert urlpath == f"lab/tree/{FIRST_NOTEBOOK}", f"the badge should open {FIRST_NOTEBOOK} in JupyterLab: {link}"
    assert (ROOT / FIRST_NOTEBOOK).is_file(), f"the Binder badge opens {FIRST_NOTEBOOK}, which does not exist"

# The browser check of postBuild lives in tests/test_browser.py (it shares the session's browser).
