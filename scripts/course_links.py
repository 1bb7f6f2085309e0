"""Set where the course is published, and regenerate every Binder and Colab badge and link.

Every course team publishes its own copy of the course (a fork, or the student copy without
``solutions/``), so the badges must point at that copy. Its address lives in one place,
``pyproject.toml``'s ``[project.urls] Repository`` (plus the branch Colab opens, in
``[tool.genlearn] branch``); this script writes every link from it:

* README.md: the badges under the title, and the Binder / Colab columns of the lessons table
  (a lesson missing from the table gets a row, titled from its notebook);
* docs/binder.md, docs/students.md and docs/colab.md: the badge lines between ``<!-- course-links:NAME -->``
  markers;
* every ``lessons/NN_*.ipynb``: the first two cells, which this script owns (tagged
  ``course-links``): the badges with a note on what differs on Colab, and the cell that
  installs genlearn on Colab only, pinned to the course's version (``v`` + the version in
  pyproject.toml, a git tag the course team pushes). Nothing else in a lesson is touched.

    python scripts/course_links.py                                       # regenerate
    python scripts/course_links.py --repo https://github.com/me/course   # move the course, then regenerate
    python scripts/course_links.py --check                               # exit 1 if anything is out of step

It is idempotent: a second run changes nothing. ``tests/test_course_links.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import quote

import nbformat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TAG = "course-links"
FIRST_LESSON = "lessons/00_welcome.ipynb"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


class Course:
    """Where the course is published, read from pyproject.toml."""

    def __init__(self, root: Path = ROOT):
        meta = tomllib.loads((root / "pyproject.toml").read_text())
        self.root = root
        self.version = meta["project"]["version"]
        self.repository = meta["project"].get("urls", {}).get("Repository", "")
        match = GITHUB.match(self.repository)
        if not match:
            raise SystemExit(f"pyproject.toml [project.urls] Repository must be https://github.com/OWNER/NAME "
                             f"(Binder and Colab open GitHub repositories), got {self.repository!r}")
        self.owner, self.name = match.groups()
        self.branch = meta.get("tool", {}).get("genlearn", {}).get("branch", "main")

    def binder(self, path: str = FIRST_LESSON) -> str:
        """mybinder.org opening JupyterLab on ``path``. HEAD: the default branch's latest commit."""
        return (f"https://mybinder.org/v2/gh/{self.owner}/{self.name}/HEAD"
                f"?urlpath={quote('lab/tree/' + path, safe='')}")

    def colab(self, path: str) -> str:
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.branch}/{path}"

    def pip_spec(self) -> str:
        """What the Colab cell installs: this course's own copy at its version's tag."""
        return f"genlearn @ git+https://github.com/{self.owner}/{self.name}@v{self.version}"

    def lessons(self) -> list[Path]:
        return sorted((self.root / "lessons").glob("[0-9][0-9]_*.ipynb"))


def badges(course: Course, path: str) -> str:
    return (f"[![Open in Binder]({BINDER_BADGE})]({course.binder(path)}) "
            f"[![Open in Colab]({COLAB_BADGE})]({course.colab(path)})")


# ---- the two cells each lesson opens with --------------------------------------------------

def links_cell_source(course: Course, path: str) -> str:
    return (f"{badges(course, path)}\n\n"
            "*Running this on Google Colab?* Run the next cell first: it installs genlearn "
            f"{course.version}, the course's version from GitHub (so it needs the network; elsewhere it does nothing). "
            "Widgets work on Colab. Colab has no nbgrader **Validate** button: for an exercise, use "
            "*Runtime > Restart session and run all* and check that no cell above the last test shows "
            "an error, then *File > Download > Download .ipynb* to hand it in. Colab and Binder sessions "
            "are temporary: download what you want to keep.")


def setup_cell_source(course: Course) -> str:
    return ("# Google Colab only: install genlearn (the course's version) if this runtime lacks it.\n"
            "# Anywhere else (JupyterLab, Binder, a JupyterHub) this cell does nothing.\n"
            "import importlib.util\n"
            "import sys\n"
            "\n"
            "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"genlearn\") is None:\n"
            f"    %pip install --quiet \"{course.pip_spec()}\"")


def owned(cell) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def render_lesson(course: Course, path: Path) -> str:
    """The notebook with this script's cells (and only them) replaced, at the top."""
    nb = nbformat.read(path, as_version=4)
    rel = f"lessons/{path.name}"
    links = nbformat.v4.new_markdown_cell(links_cell_source(course, rel), id="course-links",
                                          metadata={"tags": [TAG]})
    setup = nbformat.v4.new_code_cell(setup_cell_source(course), id="colab-setup", metadata={"tags": [TAG]})
    nb.cells = [links, setup] + [c for c in nb.cells if not owned(c)]
    return nbformat.writes(nb) + "\n"


def lesson_title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not owned(cell) and cell.source.startswith("# "):
            title = cell.source.splitlines()[0][2:]
            return title.split("·", 1)[-1].strip()
    return ""


# ---- Markdown files ------------------------------------------------------------------------

def replace_region(text: str, name: str, body: str, where: str) -> str:
    start, end = f"<!-- {TAG}:{name} -->", f"<!-- /{TAG}:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{where}: no '{start} ... {end}' region to fill; add the two markers where the links go")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


def lessons_table(course: Course, text: str) -> str:
    """Rewrite the lessons table inside its region: keep each row's topic and exercise, set its
    Binder and Colab links, add rows for lessons the table lacks, drop rows of lessons that are gone."""
    match = re.search(rf"<!-- {TAG}:lessons -->\n(.*?)\n<!-- /{TAG}:lessons -->", text, re.S)
    rows = {}
    if match:
        for line in match.group(1).splitlines()[2:]:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells and cells[0]:
                rows[cells[0].strip("`")] = cells
    out = ["| lesson | topic | exercise | open |", "|---|---|---|---|"]
    for path in course.lessons():
        rel = f"lessons/{path.name}"
        old = rows.get(path.stem, [])
        topic = old[1] if len(old) > 1 else lesson_title(path)
        exercise = old[2] if len(old) > 2 else ""
        links = f"[Binder]({course.binder(rel)}) · [Colab]({course.colab(rel)})"
        out.append(f"| `{path.stem}` | {topic} | {exercise} | {links} |")
    return replace_region(text, "lessons", "\n".join(out), "README.md")


def render_markdown(course: Course, path: Path) -> str:
    text = path.read_text()
    rel = path.relative_to(course.root).as_posix()
    text = replace_region(text, "badges", badges(course, FIRST_LESSON), rel)
    if rel == "README.md":
        text = lessons_table(course, text)
    return text


MARKDOWN = ("README.md", "docs/binder.md", "docs/students.md", "docs/colab.md")


def expected_files(course: Course) -> dict[Path, str]:
    files = {course.root / rel: render_markdown(course, course.root / rel) for rel in MARKDOWN}
    files.update({path: render_lesson(course, path) for path in course.lessons()})
    return files


def set_repository(root: Path, url: str, branch: str | None) -> None:
    if not GITHUB.match(url):
        raise SystemExit(f"--repo must be https://github.com/OWNER/NAME, got {url!r}")
    path = root / "pyproject.toml"
    text = path.read_text()
    text, n = re.subn(r'(?m)^Repository = "[^"]*"', f'Repository = "{url.rstrip("/")}"', text)
    if n != 1:
        raise SystemExit("pyproject.toml: expected one 'Repository = \"...\"' line under [project.urls]")
    if branch:
        text, n = re.subn(r'(?m)^branch = "[^"]*"', f'branch = "{branch}"', text)
        if n != 1:
            raise SystemExit("pyproject.toml: expected one 'branch = \"...\"' line under [tool.genlearn]")
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", help="set [project.urls] Repository (https://github.com/OWNER/NAME) first")
    ap.add_argument("--branch", help="set the branch Colab opens ([tool.genlearn] branch) first")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 and list what is out of step")
    ap.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.check and (args.repo or args.branch):
        ap.error("--check cannot be combined with --repo/--branch")
    if args.repo or args.branch:
        set_repository(args.root, args.repo or Course(args.root).repository, args.branch)
    course = Course(args.root)
    stale = {path: text for path, text in expected_files(course).items() if path.read_text() != text}
    if args.check:
        for path in stale:
            print(f"out of step: {path.relative_to(course.root)} (run python scripts/course_links.py)")
        return 1 if stale else 0
    for path, text in stale.items():
        path.write_text(text)
        print(f"updated {path.relative_to(course.root)}")
    print(f"links point at {course.repository} (Colab branch {course.branch}, genlearn v{course.version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
