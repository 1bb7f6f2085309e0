"""The course site's building blocks (scripts/build_site.py), without executing lessons:
labels on widget controls, links out of the site, text alternatives of figures."""

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


def test_a_figure_without_a_text_alternative_fails_the_build():
    out = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
           "metadata": {}}
    with pytest.raises(RuntimeError, match="no text alternative"):
        build_site.render_output(out, [], "00_welcome")
    out["metadata"] = {"image/png": {"alt": "1 panel."}}
    figures = []
    assert 'alt="1 panel."' in build_site.render_output(out, figures, "00_welcome")
    assert figures == [{"lesson": "00_welcome", "alt": "1 panel.", "widget": False}]


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
