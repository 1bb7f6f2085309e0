"""The course site's building blocks (scripts/build_site.py), without executing lessons:
labels on widget controls, links out of the site, text alternatives of figures, and the pages
nbconvert renders with the course's template (SVG, LaTeX, ANSI colours, widget state)."""

import base64
import functools
import re
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure

import build_site
from course_links import Course
from genlearn.widgets.base import describe_figure


def _nb_with_widgets(*models):
    state = {str(i): {"model_name": name, "state": s} for i, (name, s) in enumerate(models)}
    return nbformat.from_dict({"metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}}})


def test_unlabelled_widget_controls_are_named():
    nb = _nb_with_widgets(("IntSliderModel", {"description": "z1", "value": 0}),
                          ("DropdownModel", {"description": "", "value": "ring", "options": ["ring"]}),
                          ("ButtonModel", {"description": "", "icon": "play", "tooltip": "train 100 steps"}),
                          ("PlayModel", {"description": "", "value": 3}),
                          ("HTMLModel", {"description": "", "value": "<b>title</b>"}),
                          ("FloatProgressModel", {"description": "", "value": 1.0}))
    assert len(build_site.widget_controls(nb)) == 4
    bad = build_site.unlabelled_controls(nb)
    assert len(bad) == 2 and bad[0].startswith("DropdownModel(value='ring'") and bad[1].startswith("PlayModel"), bad


def test_links_leave_the_site_only_for_files_that_are_not_pages():
    course = Course()
    body = ('<a href="03_variational_autoencoders.ipynb#The-ELBO">x</a> <a href="../exercises/ex02_vae/ex02_vae.ipynb">e</a>'
            ' <a href="https://arxiv.org/abs/1312.6114">p</a> <a href="#top">t</a> <a href="../genlearn/">g</a>')
    out = build_site.fix_links(body, course, {"03_variational_autoencoders"})
    repo = f"https://github.com/{course.owner}/{course.name}"
    assert 'href="03_variational_autoencoders.html#The-ELBO"' in out
    assert f'href="{repo}/blob/{course.branch}/exercises/ex02_vae/ex02_vae.ipynb"' in out
    assert f'href="{repo}/tree/{course.branch}/genlearn"' in out
    assert 'href="https://arxiv.org/abs/1312.6114"' in out and 'href="#top"' in out


def test_a_link_above_the_repository_is_left_alone():
    out = build_site.fix_links('<a href="../../x">x</a> <a href="../../../a/b.ipynb#c">y</a> <a href="../x/../../y">z</a>',
                               Course(), set())
    assert out == '<a href="../../x">x</a> <a href="../../../a/b.ipynb#c">y</a> <a href="../x/../../y">z</a>'


PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                      "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle cx="5" cy="5" r="4"/></svg>'
LESSON = Path("lessons/00_welcome.ipynb")


def _render(*cells, metadata=None):
    """A lesson page from cells given as nbformat dicts, as build_site renders an executed lesson."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A test lesson\n\nIntro."), *cells],
                                  metadata=metadata or {})
    return build_site.render_lesson(nb, LESSON, Course(), _exporter(), [("01_next.html", "next lesson")])


@functools.lru_cache(maxsize=1)
def _exporter():
    return build_site.make_exporter(Course(), {"00_welcome"})


def _code(*outputs):
    return nbformat.v4.new_code_cell("x", outputs=[nbformat.from_dict(o) for o in outputs])


def _figure(mime, data, alt):
    return {"output_type": "display_data", "data": {mime: data, "text/plain": "<Figure>"},
            "metadata": {mime: {"alt": alt}} if alt is not None else {}}


def test_the_page_keeps_the_course_structure():
    html, site = _render(nbformat.v4.new_markdown_cell("## Part one\nSee [lesson 0](00_welcome.ipynb)."))
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html
    assert "<title>A test lesson</title>" in html and site["title"] == "A test lesson"
    assert '<a class="skip" href="#content">Skip to content</a>' in html and '<main id="content">' in html
    assert '<nav aria-label="Course"><a href="../index.html">' in html and '<a href="01_next.html">next lesson</a>' in html
    assert 'href="../style.css"' in html and build_site.MATHJAX in html
    assert html.index('<h1 id="A-test-lesson">') < html.index("Open in Binder") < html.index("Part one")
    assert 'href="00_welcome.html"' in html and "<footer>" in html


@pytest.mark.parametrize("mime, data", [("image/png", PNG), ("image/svg+xml", SVG)])
def test_pictures_carry_their_text_alternative(mime, data):
    html, site = _render(_code(_figure(mime, data, "1 panel: a circle.")))
    assert f'src="data:{mime};base64,' in html and 'alt="1 panel: a circle."' in html
    assert site["figures"] == [{"lesson": "00_welcome", "alt": "1 panel: a circle.", "widget": False}]
    if mime == "image/svg+xml":
        src = html.split(f'data:{mime};base64,')[1].split('"')[0]
        assert base64.b64decode(src).decode() == SVG


@pytest.mark.parametrize("mime, data", [("image/png", PNG), ("image/svg+xml", SVG)])
def test_a_figure_without_a_text_alternative_fails_the_build(mime, data):
    for alt in (None, "  "):
        with pytest.raises(RuntimeError, match=re.escape(f"00_welcome: a figure ({mime}) has no text alternative")):
            _render(_code(_figure(mime, data, alt)))


def test_latex_and_ansi_colours_reach_the_page():
    latex = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
             "data": {"text/latex": "$\\mathcal{L} = \\beta < 1$", "text/plain": "L"}}
    ansi = {"output_type": "stream", "name": "stdout", "text": "\x1b[31mred\x1b[0m plain\nstep 1\rstep 2\n"}
    html, _ = _render(_code(latex, ansi))
    assert '<div class="latex">$\\mathcal{L} = \\beta &lt; 1$</div>' in html, "for MathJax, escaped"
    assert '<span class="ansi-red-fg">red</span> plain' in html and "\x1b" not in html
    assert "step 2" in html and "step 1" not in html, "a redrawn progress line shows its last frame"


def test_a_widget_shows_its_picture_and_embeds_its_state():
    view = {"version_major": 2, "version_minor": 0, "model_id": "m1"}
    out = {"output_type": "display_data", "metadata": {"image/png": {"alt": "Interactive widget. 1 panel."}},
           "data": {build_site.WIDGET_MIME: view, "image/png": PNG, "text/plain": "FigureWidget()"}}
    state = {"state": {"m1": {"model_name": "VBoxModel", "model_module": "@jupyter-widgets/controls",
                              "model_module_version": "2.0.0", "state": {}}}, "version_major": 2, "version_minor": 0}
    html, site = _render(_code(out), metadata={"widgets": {"application/vnd.jupyter.widget-state+json": state}})
    assert 'alt="Interactive widget. 1 panel."' in html and site["figures"][0]["widget"] is True
    assert '<script type="application/vnd.jupyter.widget-view+json">' in html and '"model_id": "m1"' in html
    assert '<script type="application/vnd.jupyter.widget-state+json">' in html and '"VBoxModel"' in html
    assert "embed-amd.js" in html and "require.min.js" in html, "the widgets' renderer is linked, not fetched"
    assert "$(" not in html, "no jQuery on the page"


def test_an_unlabelled_control_fails_the_build_naming_it():
    state = {"state": {"s": {"model_name": "IntSliderModel", "state": {"description": "", "value": 7}},
                       "t": {"model_name": "FloatSliderModel", "state": {"description": "beta", "value": 1.0}}}}
    _, site = _render(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": state}})
    assert site["widget_controls"] == 2
    assert site["problems"] == ["00_welcome: widget controls without a label (description or tooltip): "
                                "['IntSliderModel(value=7)']"]


def test_a_cell_that_raised_fails_the_build():
    err = {"output_type": "error", "ename": "ValueError", "evalue": "bad beta", "traceback": []}
    with pytest.raises(RuntimeError, match="00_welcome: ValueError: bad beta"):
        _render(_code(err))


def test_describe_figure_reads_titles_labels_and_legends():
    fig = Figure()
    fig.suptitle("training")
    ax, ax2 = fig.subplots(1, 2)
    ax.plot([0, 1], [1, 0], label="D loss")
    ax.plot([0, 1], [0, 1], label="G loss")
    ax.set(title="losses", xlabel="step", ylabel="nats")
    ax.legend()
    ax2.imshow([[0, 1], [1, 0]])
    text = describe_figure(fig)
    assert text.startswith("Figure: training. 2 panels.")
    assert "Panel 1: 'losses'; 2 lines; x: step, y: nats; legend: D loss, G loss." in text
    assert "Panel 2: an image." in text
