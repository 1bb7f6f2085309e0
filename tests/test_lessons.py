"""Every lesson is executed top to bottom, and follows the course's lesson structure."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from notebook_runner import execute, outputs

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = sorted(p for folder in ("lessons", "solutions", "exercises")
                   for p in (ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# tqdm.auto's notebook bar is a widget whose static fallback is its text bar, e.g.
# "100%|##########| 60/60 [00:04<00:00, 13.2it/s]"; every other widget needs a PNG.
TQDM_TEXT = re.compile(r"\|\s*\d+/\d+ \[")


def has_static_fallback(display: dict) -> bool:
    data = display["data"]
    return "image/png" in data or bool(TQDM_TEXT.search(data.get("text/plain", "")))


def test_there_are_lessons():
    assert len(LESSONS) >= 1, "no lessons/NN_name.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; strip them before committing"
    assert nb.get("metadata", {}).get("kernelspec", {}).get("name") == "python3", \
        f"{path.name}: needs kernelspec python3 metadata (JupyterLab would ask for a kernel)"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_structure(path):
    nb = nbformat.read(path, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # scripts/course_links.py owns the cells tagged course-links (Binder/Colab badges, Colab setup)
    own = [c for c in nb.cells if "course-links" not in c.metadata.get("tags", [])]
    assert own[0].cell_type == "markdown" and own[0].source.startswith("# "), "a lesson opens with its title"
    for needed in ("learning objectives", "prerequisites", "summary", "check yourself"):
        assert needed in md, f"{path.name} has no '{needed}' section"
    assert re.search(r"exercises?/|ex\d\d_", md), f"{path.name} does not point to its exercise"
    assert "genlearn.widgets" in code, f"{path.name} shows no genlearn widget"
    assert "genlearn" in code


@pytest.mark.notebook
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_executes(path):
    nb, _ = execute(path)
    errors = outputs(nb, "error")
    assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    widgets = outputs(nb, mime=WIDGET_MIME)
    assert widgets, f"{path.name} displayed no live widget"
    bare = [w["data"].get("text/plain", "")[:80] for w in widgets if not has_static_fallback(w)]
    assert not bare, f"{path.name}: widgets without a static fallback (PNG, or a tqdm text bar): {bare}"
    assert len(outputs(nb, mime="image/png")) >= 2, f"{path.name} shows too few figures"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            assert "Traceback" not in text, f"{path.name}: a traceback was printed:\n{text[:500]}"
    LESSON_CLAIMS.get(path.stem, lambda text: None)(stream_text(nb))


def stream_text(nb) -> str:
    return "".join(out.get("text", "") for out in outputs(nb, "stream"))


def check_12_beyond_vaes_and_gans(text: str) -> None:
    """The numbers lesson 12's prose states, read back from its printed output."""
    gaussian, flow, true = map(float, re.search(
        r"one Gaussian (\S+) \| flow (\S+) \| true mixture (\S+)", text).groups())
    assert true < flow < gaussian - 2, f"flow NLL {flow} should lie between the mixture {true} and a Gaussian {gaussian} - 2"
    made, elbo, iwae = map(float, re.search(
        r"MADE \(exact\) (\S+) \| VAE -ELBO (\S+) \| VAE IWAE k=64 (\S+)", text).groups())
    assert abs(made - elbo) < 1 and iwae < made, f"MADE {made}, -ELBO {elbo}, IWAE {iwae}"
    real_apart = float(re.search(r"real 7s \(train\)\s+(\S+)", text).group(1))
    rows = {name: (float(a) / 100, int(d), float(p), float(r)) for name, a, d, p, r in re.findall(
        r"^(pretrained MADE|tuned, KL weight \S+)\s+(\d+)%\s+(\d+)\s+(\S+)\s+(\S+)$", text, re.M)}
    base, tuned, anchored = rows["pretrained MADE"], rows["tuned, KL weight 0"], \
        next(v for k, v in rows.items() if k.startswith("tuned") and k != "tuned, KL weight 0")
    assert base[0] < 0.3 and tuned[0] >= 0.9, f"share labelled 7: {base[0]} before, {tuned[0]} after"
    assert tuned[2] < real_apart < base[2] and tuned[3] < base[3], f"no collapse: {base} -> {tuned}, real {real_apart}"
    assert anchored[2] > tuned[2], f"the KL anchor should keep samples more varied: {anchored} vs {tuned}"
    probe = {(name, int(k)): float(acc) for name, k, acc in re.findall(
        r"^(pixels|VAE mu)\s+(\d+) labels per class: test accuracy ([\d.]+)%", text, re.M)}
    for k in (10, 50):
        assert probe["VAE mu", k] < probe["pixels", k], f"the prose says pixels beat VAE latents at {k} per class: {probe}"


LESSON_CLAIMS = {"12_beyond_vaes_and_gans": check_12_beyond_vaes_and_gans}
