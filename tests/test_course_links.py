"""Every Binder and Colab link comes from pyproject.toml's [project.urls] Repository, and
scripts/course_links.py keeps them in step (README, lessons table, lessons' first cells, docs)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import course_links

ROOT = Path(__file__).resolve().parents[1]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for rel in ("pyproject.toml", "README.md", *course_links.MARKDOWN[1:]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    shutil.copytree(ROOT / "lessons", root / "lessons", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def test_repository_links_are_in_step(capsys):
    code = course_links.main(["--check"])
    assert code == 0, f"links out of step; run python scripts/course_links.py:\n{capsys.readouterr().out}"


def test_one_command_moves_every_link_and_a_second_run_changes_nothing(tmp_path):
    root = _copy(tmp_path)
    before = {p: nbformat.read(p, as_version=4) for p in (root / "lessons").glob("*.ipynb")}
    assert course_links.main(["--root", str(root), "--repo", "https://github.com/some-uni/gen-course",
                              "--branch", "spring"]) == 0
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert course_links.main(["--root", str(root)]) == 0
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot, "a second run changed files"
    assert course_links.main(["--root", str(root), "--check"]) == 0

    assert 'Repository = "https://github.com/some-uni/gen-course"' in (root / "pyproject.toml").read_text()
    for rel in course_links.MARKDOWN:
        text = (root / rel).read_text()
        assert "mybinder.org/v2/gh/some-uni/gen-course/HEAD" in text, f"{rel} lacks the new Binder badge"
        assert "colab.research.google.com/github/some-uni/gen-course/blob/spring/" in text, rel
        assert "genlearn/genlearn" not in text, f"{rel} still points at the old repository"
    readme = (root / "README.md").read_text()
    for path, old in before.items():
        nb = nbformat.read(path, as_version=4)
        rel = f"lessons/{path.name}"
        assert [c.id for c in nb.cells[:2]] == ["course-links", "colab-setup"], path.name
        assert f"colab.research.google.com/github/some-uni/gen-course/blob/spring/{rel}" in nb.cells[0].source
        assert "lab%2Ftree%2F" + rel.replace("/", "%2F") in nb.cells[0].source
        assert "git+https://github.com/some-uni/gen-course@v0.1.0" in nb.cells[1].source
        # everything the lesson's authors own is untouched
        assert [c.source for c in nb.cells[2:]] == [c.source for c in old.cells[2:]], path.name
        assert f"| `{path.stem}` |" in readme and f"blob/spring/{rel})" in readme, f"README table lacks {path.stem}"


def test_a_new_lesson_gets_its_cells_and_a_table_row(tmp_path):
    root = _copy(tmp_path)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# 12 · Normalizing flows\n\ntext"), nbformat.v4.new_code_cell("1 + 1")]
    nbformat.write(nb, root / "lessons" / "12_flows.ipynb")
    assert course_links.main(["--root", str(root), "--check"]) == 1, "--check missed a lesson without links"
    course_links.main(["--root", str(root)])
    new = nbformat.read(root / "lessons" / "12_flows.ipynb", as_version=4)
    assert [c.id for c in new.cells[:2]] == ["course-links", "colab-setup"]
    assert [c.source for c in new.cells[2:]] == ["# 12 · Normalizing flows\n\ntext", "1 + 1"]
    assert "| `12_flows` | Normalizing flows |  | [Binder](" in (root / "README.md").read_text()
    (root / "lessons" / "12_flows.ipynb").unlink()
    course_links.main(["--root", str(root)])
    assert "12_flows" not in (root / "README.md").read_text(), "a removed lesson keeps its row"


@pytest.mark.parametrize("on_colab, installed, expect_install", [
    (False, False, False), (False, True, False), (True, True, False), (True, False, True)])
def test_setup_cell_installs_the_pinned_course_only_on_colab_when_missing(monkeypatch, on_colab, installed,
                                                                           expect_install):
    """The cell as the lessons hold it, run through IPython's own transform of `%pip`; Colab is
    a `google.colab` module in sys.modules (Colab's kernel imports it at start)."""
    source = nbformat.read(ROOT / "lessons" / "00_welcome.ipynb", as_version=4).cells[1].source
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real(name, *a) if installed else None) if name == "genlearn" else real(name, *a))
    calls = []
    shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: shell})
    course = course_links.Course()
    if expect_install:
        assert calls == [("pip", f'install --quiet "{course.pip_spec()}"')]
        assert course.pip_spec().endswith(f"@v{course.version}"), "Colab must install the course's own version"
    else:
        assert calls == [], "the setup cell installed something outside Colab or when genlearn was there"
