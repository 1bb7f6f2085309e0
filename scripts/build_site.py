"""Build the course site: every lesson executed, with its figures, as static, accessible HTML.

    python scripts/build_site.py OUT                 # every lessons/NN_*.ipynb
    python scripts/build_site.py OUT --lessons 00 03 # some (by number or name)

Each lesson runs top to bottom in its own kernel (nbclient, in a temporary copy of
``lessons/``); a failing cell fails the build. nbconvert's ``HTMLExporter`` renders each
executed lesson with the course's template (``scripts/site_template/genlearn_site/``), so the
pages show every output a student would see: text with its ANSI colours, LaTeX (MathJax),
PNG and SVG figures, and for each widget the static picture it leaves, with the widgets' saved
state embedded (the live controls need a kernel: each page links to the lesson on Binder and
Colab). Nothing is fetched at build time; the pages link MathJax and the widgets' renderer
from their CDNs. Accessibility (WCAG 2.1 AA), checked by the exporter's preprocessors:

* every figure has a text alternative (:class:`AltTextCheck`): the kernel describes each
  matplotlib figure and widget picture with :func:`genlearn.widgets.base.describe_figure`
  (title, panels, axis labels, legend) and the page uses it as the image's ``alt``; a picture
  without one fails the build;
* every widget control must carry a label (a ``description`` or tooltip; :class:`WidgetLabelCheck`):
  the build reads the widgets' saved state and fails, naming the control, if one has none;
* pages have a language, a title, landmarks, a skip link, headings in order and high-contrast
  colours; ``tests/test_site.py`` runs axe-core over them in Chromium.

Writes ``OUT/index.html`` (the table of contents), ``OUT/lessons/NN_name.html``,
``OUT/site.json`` (what was built, seconds per lesson, the figures and their alt texts) and
``OUT/executed/NN_name.ipynb``: each lesson as executed, stamped with :func:`lesson_digest` of
its source, so that the lesson tests and claims read these outputs instead of running every
lesson again (CI executes each lesson once: tests/notebook_runner.py). Links
from a lesson to files that are not pages (exercises, code) point at the course repository; a
link above the repository's root is left as written.
"""

from __future__ import annotations

import argparse
import base64
import copy
import functools
import hashlib
import html
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jinja2
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_links import Course, owned  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "site_template"   # genlearn_site/: the pages' template
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"

# Run before a lesson's first cell (and dropped from the page): figures and widget pictures
# carry their text alternative in the display metadata. IPython asks the mimebundle formatter
# first, and `%matplotlib inline` leaves that one alone.
ALT_TEXT_SETUP = """\
import base64 as _b64, io as _io
from matplotlib.figure import Figure as _Figure
from genlearn.widgets.base import FigureWidget as _FigureWidget, describe_figure as _describe

def _figure_bundle(fig):
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return ({"image/png": _b64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": repr(fig)},
            {"image/png": {"alt": _describe(fig)}})

def _widget_bundle(widget):
    alt = "Interactive widget, shown as a static picture (open the lesson on Binder or Colab to use it). "
    return widget._repr_mimebundle_(), {"image/png": {"alt": alt + _describe(widget.figure)}}

_formatter = get_ipython().display_formatter.mimebundle_formatter
_formatter.for_type(_Figure, _figure_bundle)
_formatter.for_type(_FigureWidget, _widget_bundle)
"""

# ipywidgets models a student operates: each needs a label a screen reader can announce.
CONTROL_MODELS = re.compile(r"(Slider|Dropdown|Checkbox|Button|Buttons|Text|Textarea|Select|Multiple|Play|"
                            r"Picker|RadioButtons|Combobox|ToggleButton|BoundedIntText|BoundedFloatText)Model$")

CSS = """
body { font: 1.05rem/1.6 system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; }
main, header nav, footer { max-width: 52rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 1px solid #767676; padding: .5rem 0; }
header nav a { margin-right: 1.2rem; }
a { color: #0645ad; } a:visited { color: #4b2a85; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: .5rem; background: #fff; }
pre { background: #f4f4f4; color: #1a1a1a; padding: .6rem; overflow-x: auto; font-size: .9rem; }
.input pre { border-left: 4px solid #1f5fa8; }
.output pre.error { background: #fdecea; color: #5f0000; }
figure { margin: .5rem 0; } img { max-width: 100%; height: auto; }
.open a { display: inline-block; margin-right: 1rem; font-weight: 600; }
table { border-collapse: collapse; } th, td { border: 1px solid #767676; padding: .2rem .5rem; }
.anchor-link { margin-left: .3rem; text-decoration: none; font-size: .8em; }
footer { color: #4a4a4a; border-top: 1px solid #767676; margin-top: 2rem; }
"""


def lesson_digest(nb) -> str:
    """What an executed copy of a lesson must have been run from: a hash of the lesson's own cells
    (type and source; not the course-links cells, which the build leaves out and rewrites)."""
    h = hashlib.sha256()
    for cell in nb.cells:
        if not owned(cell):
            h.update(f"{cell.cell_type}\0{cell.source}\0".encode())
    return h.hexdigest()


def select_lessons(course: Course, wanted: list[str]) -> list[Path]:
    lessons = course.lessons()
    if not wanted:
        return lessons
    chosen = [p for p in lessons if any(p.stem == w or p.stem.startswith(w + "_") for w in wanted)]
    missing = [w for w in wanted if not any(p.stem == w or p.stem.startswith(w + "_") for p in chosen)]
    if missing:
        raise SystemExit(f"no lesson matches {missing}; lessons: {[p.stem for p in lessons]}")
    return chosen


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """Run a lesson without this script's course-links cells, after the alt-text setup."""
    nb = nbformat.read(path, as_version=4)
    digest = lesson_digest(nb)
    nb.cells = [nbformat.v4.new_code_cell(ALT_TEXT_SETUP)] + [c for c in nb.cells if not owned(c)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "lessons"
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"))
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(work)}}).execute()
        seconds = time.perf_counter() - start
    nb.cells = nb.cells[1:]
    nb.metadata["genlearn_executed"] = {"lesson_digest": digest, "seconds": round(seconds, 1)}
    return nb, seconds


def widget_controls(nb) -> list[dict]:
    """The states of the widget controls a student operates, from the notebook's saved widget state."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [m for m in state.values() if CONTROL_MODELS.search(m.get("model_name", ""))]


def unlabelled_controls(nb) -> list[str]:
    """Widget controls in the saved state with neither a description nor a tooltip."""
    bad = []
    for model in widget_controls(nb):
        name, s = model["model_name"], model.get("state", {})
        if not (s.get("description") or s.get("tooltip") or s.get("description_tooltip")):
            bad.append(f"{name}({', '.join(f'{k}={s[k]!r}' for k in ('value', 'options', 'icon') if k in s)})")
    return bad


def text_of(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def last_frame(text: str) -> str:
    """Progress bars redraw with carriage returns: keep what the terminal would show."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


class AltTextCheck(Preprocessor):
    """Every picture an output shows (PNG, JPEG, SVG; a widget's static picture too) carries its text
    alternative in the output's metadata (``{mime: {"alt": ...}}``), or the build fails naming the
    output; a cell that raised fails it too. Records each figure in ``resources["site"]["figures"]``
    and keeps the last frame of progress bars that redraw with carriage returns."""

    def preprocess_cell(self, cell, resources, index):
        lesson = resources["site"]["lesson"]
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                raise RuntimeError(f"{lesson}: {out['ename']}: {out['evalue']}")
            if kind == "stream":
                out["text"] = last_frame(text_of(out["text"]))
                continue
            data, meta = out.get("data", {}), out.get("metadata", {})
            mime = next((m for m in IMAGE_MIMES if m in data), None)
            if mime is None:
                continue
            alt = meta.get(mime, {}).get("alt", "")
            if not str(alt).strip():
                raise RuntimeError(f"{lesson}: a figure ({mime}) has no text alternative "
                                   f"({text_of(data.get('text/plain', ''))[:80]})")
            if mime != "image/svg+xml":
                base64.b64decode(text_of(data[mime]).replace("\n", ""), validate=True)
            resources["site"]["figures"].append({"lesson": lesson, "alt": alt, "widget": WIDGET_MIME in data})
        return cell, resources


class WidgetLabelCheck(Preprocessor):
    """Every widget control in the notebook's saved widget state has a label a screen reader can
    announce; the ones without are reported in ``resources["site"]["problems"]``, and the build fails."""

    def preprocess(self, nb, resources):
        bad = unlabelled_controls(nb)
        if bad:
            resources["site"]["problems"].append(
                f"{resources['site']['lesson']}: widget controls without a label (description or tooltip): {bad}")
        resources["site"]["widget_controls"] = len(widget_controls(nb))
        return nb, resources


def fix_links(body: str, course: Course, pages: set[str]) -> str:
    """Lesson -> lesson links stay in the site; links to other files go to the repository; a link
    above the repository's root is left as it is (there is nothing to point it at)."""
    def repl(match):
        href = match.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:|#", href):
            return match.group(0)
        target, _, anchor = href.partition("#")
        parts = []
        for part in (Path("lessons") / target).as_posix().split("/"):
            if part == ".." and not parts:
                return match.group(0)
            if part == "..":
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        resolved = "/".join(parts)
        stem = Path(resolved).stem
        if resolved.startswith("lessons/") and resolved.endswith(".ipynb") and stem in pages:
            new = f"{stem}.html" + (f"#{anchor}" if anchor else "")
        else:
            new = (f"https://github.com/{course.owner}/{course.name}/"
                   f"{'tree' if not Path(resolved).suffix else 'blob'}/{course.branch}/{resolved}")
        return f'href="{html.escape(new)}"'
    return re.sub(r'href="([^"]*)"', repl, body)


def lesson_title(nb, stem: str) -> str:
    """The text of the lesson's first top-level heading (``# ...``), or its file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return stem


def make_exporter(course: Course, pages: set[str]) -> HTMLExporter:
    """nbconvert's HTML exporter with the course's template, its checks and its link filter."""
    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="genlearn_site")
    exporter.register_preprocessor(AltTextCheck(parent=exporter), enabled=True)
    exporter.register_preprocessor(WidgetLabelCheck(parent=exporter), enabled=True)
    exporter.register_filter("site_links", functools.partial(fix_links, course=course, pages=pages))
    return exporter


def render_lesson(nb, path: Path, course: Course, exporter: HTMLExporter, nav=()) -> tuple[str, dict]:
    """A lesson's page (HTML) and what the checks found: ``{"title", "figures", "problems", "widget_controls"}``.
    The Binder and Colab links go in after the lesson's first cell."""
    rel = f"lessons/{path.name}"
    nb = copy.deepcopy(nb)
    open_links = (f'<p class="open">Run it yourself: <a href="{html.escape(course.binder(rel))}">Open in Binder</a>'
                  f'<a href="{html.escape(course.colab(rel))}">Open in Colab</a></p>')
    nb.cells.insert(1, nbformat.v4.new_raw_cell(open_links, metadata={"raw_mimetype": "text/html"}))
    site = {"lesson": path.stem, "title": lesson_title(nb, path.stem), "base": "../", "nav": list(nav),
            "mathjax": MATHJAX, "version": course.version, "figures": [], "problems": []}
    body, resources = exporter.from_notebook_node(nb, {"site": site, "metadata": {"name": path.stem,
                                                                                   "path": str(path.parent)}})
    return body, resources["site"]


def contents_page(lessons: list[Path], titles: dict, course: Course) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "genlearn_site"), autoescape=False)
    items = [{"stem": p.stem, "title": titles[p.stem], "binder": course.binder(f"lessons/{p.name}"),
              "colab": course.colab(f"lessons/{p.name}")} for p in lessons]
    site = {"title": "genlearn course", "base": "", "nav": [], "mathjax": MATHJAX, "version": course.version}
    return env.get_template("contents.html.j2").render(site=site, lessons=items)


def build(out: Path, lessons: list[Path], course: Course, timeout: int) -> dict:
    (out / "lessons").mkdir(parents=True, exist_ok=True)
    (out / "executed").mkdir(exist_ok=True)
    (out / "style.css").write_text(CSS)
    exporter = make_exporter(course, {p.stem for p in lessons})
    report, figures, titles, problems = {"lessons": []}, [], {}, []
    for i, path in enumerate(lessons):
        nb, seconds = execute(path, timeout)
        nbformat.write(nb, str(out / "executed" / path.name))
        nav = [(f"{lessons[j].stem}.html", label) for j, label in ((i - 1, "previous lesson"), (i + 1, "next lesson"))
               if 0 <= j < len(lessons)]
        body, site = render_lesson(nb, path, course, exporter, nav)
        (out / "lessons" / f"{path.stem}.html").write_text(body)
        titles[path.stem] = site["title"]
        figures += site["figures"]
        problems += site["problems"]
        report["lessons"].append({"lesson": path.stem, "seconds": round(seconds, 1),
                                  "figures": len(site["figures"]), "widget_controls": site["widget_controls"]})
        print(json.dumps(report["lessons"][-1]), flush=True)
    (out / "index.html").write_text(contents_page(lessons, titles, course))
    report["figures"] = figures
    report["problems"] = problems
    (out / "site.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write the site into (created; existing pages are replaced)")
    ap.add_argument("--lessons", nargs="*", default=[], help="lesson numbers or names (default: all)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds a cell may run")
    args = ap.parse_args(argv)
    course = Course()
    start = time.perf_counter()
    report = build(args.out, select_lessons(course, args.lessons), course, args.timeout)
    print(f"built {len(report['lessons'])} lessons, {len(report['figures'])} figures "
          f"in {time.perf_counter() - start:.0f} s -> {args.out / 'index.html'}")
    for problem in report["problems"]:
        print("PROBLEM:", problem)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
