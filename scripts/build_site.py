"""Build the course site: every lesson executed, with its figures, as static, accessible HTML.

    python scripts/build_site.py OUT                 # every lessons/NN_*.ipynb
    python scripts/build_site.py OUT --lessons 00 03 # some (by number or name)

Each lesson runs top to bottom in its own kernel (nbclient, in a temporary copy of
``lessons/``); a failing cell fails the build. The pages show every output a student would
see: text, figures, and for each widget the static picture it leaves (the live controls need a
kernel: each page links to the lesson on Binder and Colab). Accessibility (WCAG 2.1 AA):

* every figure has a text alternative: the kernel describes each matplotlib figure and widget
  picture with :func:`genlearn.widgets.base.describe_figure` (title, panels, axis labels,
  legend) and the page uses it as the image's ``alt``;
* every widget control must carry a label (a ``description`` or tooltip): the build reads the
  widgets' saved state and fails, naming the control, if one has none;
* pages have a language, a title, landmarks, a skip link, headings in order and high-contrast
  colours; ``tests/test_site.py`` runs axe-core over them in Chromium.

Writes ``OUT/index.html`` (the table of contents), ``OUT/lessons/NN_name.html``,
``OUT/site.json`` (what was built, seconds per lesson, the figures and their alt texts) and
``OUT/executed/NN_name.ipynb``: each lesson as executed, stamped with :func:`lesson_digest` of
its source, so that the lesson tests and claims read these outputs instead of running every
lesson again (CI executes each lesson once: tests/notebook_runner.py). Links
from a lesson to files that are not pages (exercises, code) point at the course repository.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.filters.markdown_mistune import markdown2html_mistune

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_links import Course, owned  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
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

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{base}style.css">
<script>window.MathJax = {{tex: {{inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]]}}}};</script>
<script defer src="{mathjax}"></script>
</head>
<body>
<a class="skip" href="#content">Skip to content</a>
<header><nav aria-label="Course"><a href="{base}index.html">genlearn course: contents</a>{nav}</nav></header>
<main id="content">
{body}
</main>
<footer><p>Built from the course's notebooks by <code>scripts/build_site.py</code>; genlearn {version}.</p></footer>
</body>
</html>
"""

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


def render_output(out, figures: list[dict], lesson: str) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="stream" tabindex="0">{html.escape(last_frame(text_of(out["text"])))}</pre>'
    if kind == "error":
        raise RuntimeError(f"{lesson}: {out['ename']}: {out['evalue']}")
    data, meta = out.get("data", {}), out.get("metadata", {})
    if "image/png" in data:
        alt = meta.get("image/png", {}).get("alt", "")
        if not alt:
            raise RuntimeError(f"{lesson}: a figure has no text alternative ({text_of(data.get('text/plain', ''))[:80]})")
        figures.append({"lesson": lesson, "alt": alt, "widget": WIDGET_MIME in data})
        png = text_of(data["image/png"]).replace("\n", "")
        base64.b64decode(png, validate=True)
        return f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(alt)}"></figure>'
    if "text/html" in data:
        return f'<div class="html">{text_of(data["text/html"])}</div>'
    if "text/markdown" in data:
        return markdown2html_mistune(text_of(data["text/markdown"]))
    if "text/plain" in data:
        return f'<pre class="result" tabindex="0">{html.escape(text_of(data["text/plain"]))}</pre>'
    return ""


def fix_links(body: str, course: Course, pages: set[str]) -> str:
    """Lesson -> lesson links stay in the site; links to other files go to the repository."""
    def repl(match):
        href = match.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:|#", href):
            return match.group(0)
        target, _, anchor = href.partition("#")
        resolved = (Path("lessons") / target).as_posix()
        parts = []
        for part in resolved.split("/"):
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


def render_lesson(nb, path: Path, course: Course, pages: set[str], figures: list[dict]) -> tuple[str, str]:
    rel = f"lessons/{path.name}"
    title, parts = path.stem, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if cell.source.startswith("# ") and title == path.stem:
                title = cell.source.splitlines()[0][2:].strip()
            parts.append(markdown2html_mistune(cell.source))
        elif cell.cell_type == "code":
            parts.append(f'<div class="input"><pre tabindex="0"><code>{html.escape(cell.source)}</code></pre></div>')
            outs = "".join(render_output(o, figures, path.stem) for o in cell.get("outputs", []))
            if outs:
                parts.append(f'<div class="output">{outs}</div>')
    open_links = (f'<p class="open">Run it yourself: <a href="{html.escape(course.binder(rel))}">Open in Binder</a>'
                  f'<a href="{html.escape(course.colab(rel))}">Open in Colab</a></p>')
    body = parts[0] + open_links + "".join(parts[1:])
    return title, fix_links(body, course, pages)


def page(title: str, body: str, base: str, nav: str, version: str) -> str:
    return PAGE.format(title=html.escape(title), body=body, base=base, nav=nav, mathjax=MATHJAX, version=version)


def build(out: Path, lessons: list[Path], course: Course, timeout: int) -> dict:
    (out / "lessons").mkdir(parents=True, exist_ok=True)
    (out / "executed").mkdir(exist_ok=True)
    (out / "style.css").write_text(CSS)
    pages = {p.stem for p in lessons}
    report, figures, titles, problems = {"lessons": []}, [], {}, []
    for i, path in enumerate(lessons):
        nb, seconds = execute(path, timeout)
        nbformat.write(nb, str(out / "executed" / path.name))
        bad, controls = unlabelled_controls(nb), len(widget_controls(nb))
        if bad:
            problems.append(f"{path.stem}: widget controls without a label (description or tooltip): {bad}")
        n_before = len(figures)
        title, body = render_lesson(nb, path, course, pages, figures)
        titles[path.stem] = title
        nav = "".join(f'<a href="{lessons[j].stem}.html">{label}</a>'
                      for j, label in ((i - 1, "previous lesson"), (i + 1, "next lesson")) if 0 <= j < len(lessons))
        (out / "lessons" / f"{path.stem}.html").write_text(page(title, body, "../", nav, course.version))
        report["lessons"].append({"lesson": path.stem, "seconds": round(seconds, 1),
                                  "figures": len(figures) - n_before, "widget_controls": controls})
        print(json.dumps(report["lessons"][-1]), flush=True)
    items = "".join(
        f'<li><a href="lessons/{p.stem}.html">{html.escape(titles[p.stem])}</a> '
        f'<span class="open">(<a href="{html.escape(course.binder("lessons/" + p.name))}" '
        f'aria-label="{html.escape(titles[p.stem])} on Binder">Binder</a>, '
        f'<a href="{html.escape(course.colab("lessons/" + p.name))}" '
        f'aria-label="{html.escape(titles[p.stem])} on Colab">Colab</a>)</span></li>' for p in lessons)
    index = (f"<h1>genlearn: generative models, in Jupyter</h1>"
             f"<p>Every lesson of the course, executed, with its figures. The widgets appear as static "
             f"pictures; open a lesson on Binder or Colab to use them.</p>"
             f'<h2>Lessons</h2><ol class="toc">{items}</ol>')
    (out / "index.html").write_text(page("genlearn course", index, "", "", course.version))
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
