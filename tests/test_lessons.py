"""Every lesson is executed top to bottom, and follows the course's lesson structure."""

import base64
import json
import re
import struct
from pathlib import Path

import nbformat
import pytest

from genlearn.plot import MAX_FIGURE_INCHES
from lesson_claims import CLAIMS, check_claims
from notebook_runner import executed_lesson, outputs

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


def png_inches(data: bytes) -> tuple[float, float]:
    """A PNG's width and height in inches, at the resolution matplotlib wrote in it (pHYs)."""
    width, height = struct.unpack(">II", data[16:24])
    at = data.find(b"pHYs")
    if at < 0:
        raise AssertionError("a figure without its resolution (no pHYs chunk)")
    per_metre_x, per_metre_y, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert unit == 1, "pHYs in unknown units"
    return width / (per_metre_x * 0.0254), height / (per_metre_y * 0.0254)


def too_wide(nb, limit: float) -> list[str]:
    """Figures wider than ``limit`` inches as saved: a notebook, the site and GitHub scale them down to
    the output column, shrinking their text and images below what genlearn.plot guarantees."""
    found = []
    for n, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                w, h = png_inches(base64.b64decode(png))
                if w > limit:
                    found.append(f"cell {n}: {w:.1f} x {h:.1f} in")
    return found


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


# Library code that an assignment's graded functions reimplement under other names (a lesson that
# prints it hands out the answer key): assignment -> genlearn objects.
LIBRARY_TWINS = {
    "ex01_likelihood": ["fit_mixture"],  # the lesson's scikit-learn helper: a different method, shown on purpose
    "ex02_vae": ["reparameterize", "kl_normal_std", "VAE.elbo", "VAE.loss"],
    "ex03_gan": ["d_loss", "g_loss"],
    "ex04_evaluation": ["frechet_distance_gaussians", "precision_recall", "mode_coverage"],
    "ex06_wasserstein": ["gradient_penalty"],
    "ex07_diffusion": ["Diffusion.loss", "Diffusion.sample", "linear_betas"],
}
SHOWN_ON_PURPOSE = {"fit_mixture"}
SOURCE_PRINT = re.compile(r"getsource(?:lines)?\(\s*([\w.]+)|%psource\s+([\w.]+)|%pinfo2\s+([\w.]+)|([\w.]+)\?\?")
ANSWER_DEF = re.compile(r"^def (\w+)\(", re.M)


def graded_names() -> dict:
    """name -> assignment, for every function an assignment's answer cells define, and their library twins."""
    names = {}
    for source in sorted((ROOT / "solutions").glob("ex[0-9][0-9]_*/*.ipynb")):
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
                for name in ANSWER_DEF.findall(cell.source):
                    names[name] = source.parent.name
    for aid, twins in LIBRARY_TWINS.items():
        for name in twins:
            if name not in SHOWN_ON_PURPOSE:
                names[name] = aid
    return names


def test_graded_names_are_found():
    names = graded_names()
    assert {"gradient_penalty", "mixture_log_prob", "Diffusion.loss"} <= set(names), sorted(names)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_prints_no_answer_key(path):
    """No lesson prints the source of a function an assignment grades (or of genlearn's version of it)."""
    names = graded_names()
    nb = nbformat.read(path, as_version=4)
    found = []
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for match in SOURCE_PRINT.finditer(cell.source):
            target = next(g for g in match.groups() if g)
            for key in (target, target.rsplit(".", 1)[-1], ".".join(target.split(".")[-2:])):
                if key in names:
                    found.append(f"cell {n} prints the source of {target}, graded in {names[key]}")
                    break
    assert not found, f"{path.name}: " + "; ".join(found) + (
        ". Teach the idea and a different instance; point to genlearn's code after the assignment")


# A duration in prose: "in a few seconds", "about 17 ms per step", "takes 2 minutes", "within a second".
_UNIT = r"(?:ms|milliseconds?|seconds?|minutes?|min|hours?)"
TIME_PHRASE = re.compile(
    r"\b(?:in|within|under|about|takes?|took|taking|for|only|than|around|roughly|over|per)\s+"
    rf"(?:(?:about|only|under)\s+)?(?:(?:a few|several|half an?|an?|one)\s+{_UNIT}|\d+(?:[.,]\d+)?(?:\s?-\s?\d+(?:[.,]\d+)?)?\s?(?:{_UNIT}|s))\b"
    r"|\bin seconds\b|\bseconds each\b", re.I)
# A time is never stated as a fact: it is printed, or said where it was measured.
TIME_ATTRIBUTED = re.compile(r"print|measured|benchmarks/|train_seconds|your machine", re.I)
# The study time under a lesson's title ("About 20 minutes.") is a plan for the reader, not a result.
STUDY_TIME = re.compile(r"^about \d+ minutes\.$", re.I)


def times_stated_as_facts(nb) -> list[str]:
    found = []
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(cell.source.split())):
            match = TIME_PHRASE.search(sentence)
            if match and not STUDY_TIME.match(sentence) and not TIME_ATTRIBUTED.search(sentence):
                found.append(f"cell {n}: {match.group(0)!r} in {sentence[:120]!r}")
    return found


def test_time_phrases_are_found():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "It trains in a few seconds. Each step takes about 17 ms. It redraws within a second. About 20 minutes. "
        "The table prints how many seconds each took. We measured 2.5 s on the test machine. A second network.")])
    assert [f.split(":")[1].strip() for f in times_stated_as_facts(nb)] == ["'in a few seconds' in 'It trains in a few seconds.'",
                                                                            "'takes about 17 ms' in 'Each step takes about 17 ms.'",
                                                                            "'within a second' in 'It redraws within a second.'"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_time_stated_as_fact(path):
    """How long something takes depends on the machine and its load: a lesson prints the time, or says
    where it was measured (benchmarks/README.md, a checkpoint's train_seconds), never states it as a fact."""
    found = times_stated_as_facts(nbformat.read(path, as_version=4))
    assert not found, f"{path.name}: " + "; ".join(found) + ". Print the time, or say what was measured where"


@pytest.mark.notebook
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_executes(path):
    nb = executed_lesson(path)  # executed here, or by the site build under CI (notebook_runner)
    errors = outputs(nb, "error")
    assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    widgets = outputs(nb, mime=WIDGET_MIME)
    assert widgets, f"{path.name} displayed no live widget"
    bare = [w["data"].get("text/plain", "")[:80] for w in widgets if not has_static_fallback(w)]
    assert not bare, f"{path.name}: widgets without a static fallback (PNG, or a tqdm text bar): {bare}"
    assert len(outputs(nb, mime="image/png")) >= 2, f"{path.name} shows too few figures"
    # the saved picture may carry a tight bounding box's padding (0.1 in a side) beyond the figure
    wide = too_wide(nb, MAX_FIGURE_INCHES + 0.25)
    assert not wide, f"{path.name}: figures wider than {MAX_FIGURE_INCHES} in, shrunk where shown: {wide}"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            assert "Traceback" not in text, f"{path.name}: a traceback was printed:\n{text[:500]}"
    if path.stem in CLAIMS:  # what the prose says about the outputs (tests/lesson_claims.py)
        check_claims(path.stem, nb)


def test_an_executed_copy_from_another_source_is_refused(tmp_path, monkeypatch):
    """Under GENLEARN_SITE the lesson tests read the site build's executed copies: a copy run from
    another version of the lesson fails instead of testing outputs that the lesson no longer makes."""
    import build_site
    from notebook_runner import StaleExecution

    path = LESSONS[0]
    nb = nbformat.read(path, as_version=4)
    (tmp_path / "executed").mkdir()
    copy = tmp_path / "executed" / path.name
    monkeypatch.setenv("GENLEARN_SITE", str(tmp_path))
    with pytest.raises(StaleExecution, match="holds no executed copy"):
        executed_lesson(path)
    nb.metadata["genlearn_executed"] = {"lesson_digest": build_site.lesson_digest(nb)}
    nbformat.write(nb, str(copy))
    assert executed_lesson(path).metadata["genlearn_executed"] == nb.metadata["genlearn_executed"]
    edited = nbformat.read(path, as_version=4)
    edited.cells[-1].source += "\n"  # one character more in the lesson
    edited.metadata["genlearn_executed"] = {"lesson_digest": build_site.lesson_digest(edited)}
    nbformat.write(edited, str(copy))
    with pytest.raises(StaleExecution, match="another version"):
        executed_lesson(path)
