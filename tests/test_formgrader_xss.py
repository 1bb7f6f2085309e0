"""A student's written answer and outputs, opened by the instructor in formgrader and in the
feedback, in headless Chromium: no script of the student's runs.

The student hands in ex01 solved, with attacks where a student controls the page: the written
answer (Markdown with raw HTML: ``<img onerror>``, ``<script>``, ``<iframe srcdoc>``, inline
SVG, a ``javascript:`` link, an event handler; a cell tag that would break out of its
attribute) and the outputs of an answer cell (HTML, Markdown, JavaScript and SVG displays).
Each attack, if it ran, would add its number to ``window.__xss`` (or the page that framed
it), and the first would also call formgrader's API to give itself full marks and read
``solutions/`` through the contents API, as the attack in issue 21 did. The submission is
collected into a course made by ``genlearn-course setup`` and autograded by real nbgrader; the
instructor's JupyterLab serves formgrader; the test opens the submission as the instructor
would, fires mouse and focus events on everything the student wrote, and checks that nothing
ran, no request left for the API, and the gradebook is unchanged. Then the same for the
feedback page. Fails without the course's sanitizer (``c.HTMLExporter.preprocessors``).
"""

from __future__ import annotations

import json
import nbformat
import pytest

import browser_support as bs
import grading_tools as gt
from genlearn.course import create

pytestmark = [pytest.mark.browser, pytest.mark.grading]
AID = "ex01_likelihood"
STUDENT = "mallory"
PAYLOAD = ("fetch(document.baseURI.split('/formgrader')[0]+'/api/contents/solutions/{aid}/{aid}.ipynb')"
           ".then(r=>r.text()).then(t=>{{window.__stolen=t.length}});").format(aid=AID)
WRITTEN = f"""My answer.

<img src="x" onerror="window.__xss=(window.__xss||[]).concat(1);{PAYLOAD}">
<script>window.__xss=(window.__xss||[]).concat(2)</script>
<iframe srcdoc="<script>parent.__xss=(parent.__xss||[]).concat(3)</script>"></iframe>
<svg><script>window.__xss=(window.__xss||[]).concat(4)</script><rect onload="window.__xss=(window.__xss||[]).concat(5)"/></svg>
<a href="javascript:window.__xss=(window.__xss||[]).concat(6)" id="jslink">read more</a>
<b onmouseover="window.__xss=(window.__xss||[]).concat(7)" onclick="window.__xss=(window.__xss||[]).concat(7)">hover me</b>
<details open ontoggle="window.__xss=(window.__xss||[]).concat(8)"><summary>x</summary></details>
<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=(window.__xss||[]).concat(9)"></style></mglyph></table></mtext></math>
"""
OUTPUTS = """
from IPython.display import HTML, Javascript, Markdown, SVG, display
display(HTML('<img src="x" onerror="window.__xss=(window.__xss||[]).concat(11)">'))
display(Markdown('<img src="x" onerror="window.__xss=(window.__xss||[]).concat(12)">'))
display(Javascript('window.__xss=(window.__xss||[]).concat(13)'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=(window.__xss||[]).concat(14)"><script>window.__xss=(window.__xss||[]).concat(15)</script></svg>'))
"""
FIRE_EVENTS = """() => {
  for (const el of document.querySelectorAll('.text_cell_render *, .output_area *, .output_subarea *, .cell *')) {
    const types = el.closest('a, button, input, textarea, form') ? ['mouseover', 'mouseenter', 'focus']
                                                                   : ['mouseover', 'mouseenter', 'focus', 'click'];
    for (const type of types) {
      try { el.dispatchEvent(new MouseEvent(type, {bubbles: false})); } catch (e) {}
    }
  }
  for (const a of document.querySelectorAll('a[href^="javascript:"]')) { try { a.click(); } catch (e) {} }
}"""


def _attack_notebook(course):
    source = nbformat.read(course / "solutions" / AID / f"{AID}.ipynb", 4)
    nb = gt.student_notebook(source, nbformat.read(gt.RELEASE / AID / f"{AID}.ipynb", 4))
    cells = gt.cells_by_id(nb)
    cells["written_mle"].source = WRITTEN
    cells["written_mle"].metadata["tags"] = ['x" onmouseover="window.__xss=(window.__xss||[]).concat(21)" y="']
    cells["answer_sample_mixture"].source += "\n" + OUTPUTS
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    bs.require_browser()
    tmp = tmp_path_factory.mktemp("xss")
    course = tmp / "course"
    create.create_course(create.CourseSpec(course, gt.ROOT, exchange=None, assignments=[AID]))
    gt.generate(course, AID)
    folder = course / "submitted" / STUDENT / AID
    folder.mkdir(parents=True)
    nbformat.write(_attack_notebook(course), str(folder / f"{AID}.ipynb"))
    for step in (["autograde", AID], ["generate_feedback", AID]):
        proc = gt.nbgrader(step, course)
        assert proc.returncode == 0, f"nbgrader {' '.join(step)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return course


def _scores(course) -> dict:
    return gt.scores(course, AID, STUDENT)


def _visit(page, url: str) -> dict:
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url, wait_until="networkidle")
    page.evaluate(FIRE_EVENTS)
    page.wait_for_timeout(1500)
    return {"xss": page.evaluate("() => window.__xss || null"),
            "stolen": page.evaluate("() => window.__stolen || null"),
            "api": [u for u in requests if "/api/contents" in u],
            "html": page.content()}


def test_formgrader_runs_no_student_script(graded, tmp_path):
    from playwright.sync_api import sync_playwright

    course = graded
    before = _scores(course)
    with bs.LabServer(course, tmp_path / "home") as lab, sync_playwright() as p:
        listing = lab.api("GET", f"/formgrader/api/submitted_notebooks/{AID}/{AID}")
        sub_id = next(s["id"] for s in listing if s["student"] == STUDENT)
        browser = bs.launch_chromium(p, bs.require_browser())
        page = browser.new_page()
        seen = _visit(page, f"{lab.url}/formgrader/submissions/{sub_id}")
        assert "My answer." in seen["html"] and "hover me" in seen["html"], "the written answer is not on the page"
        assert "written_mle" in seen["html"], "not formgrader's grading page"
        browser.close()
    assert seen["xss"] is None, f"student script ran in formgrader: attacks {seen['xss']}"
    assert seen["stolen"] is None and not seen["api"], f"the page called the contents API: {seen['api']}"
    assert _scores(course) == before


def test_feedback_runs_no_student_script(graded):
    from playwright.sync_api import sync_playwright

    html = graded / "feedback" / STUDENT / AID / f"{AID}.html"
    with sync_playwright() as p:
        browser = bs.launch_chromium(p, bs.require_browser())
        page = browser.new_page()
        seen = _visit(page, html.as_uri())
        browser.close()
    assert "My answer." in seen["html"]
    assert seen["xss"] is None, f"student script ran in the feedback: attacks {seen['xss']}"


def test_sanitizer_keeps_honest_content(graded):
    """What an honest student writes survives: Markdown, math, images, tables."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.HTMLExporter.preprocessors = ["genlearn.course.sanitize.SanitizeStudentHTML"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "## Answer\n\nThe **MLE** of $\\sigma^2$ divides by $n$:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<i>ok</i>")])
    html, _ = HTMLExporter(config=c).from_notebook_node(nb)
    for fragment in ("<strong>MLE</strong>", "\\sigma^2", "<table>", "<i>ok</i>"):
        assert fragment in html, fragment
    meta = json.dumps(nb.cells[0].metadata)
    assert "onmouseover" not in meta
