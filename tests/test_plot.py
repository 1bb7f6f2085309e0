import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from genlearn import plot
from genlearn.train import History


def test_tile_places_images_in_a_grid():
    imgs = torch.zeros(5, 1, 2, 2)
    imgs[3] = 1.0
    mosaic = plot.tile(imgs, ncols=3, pad=1)
    assert mosaic.shape == (2 * 3 + 1, 3 * 3 + 1)
    assert mosaic[1 + 3, 1:3].tolist() == [1.0, 1.0]  # image 3 is row 1, column 0
    with pytest.raises(ValueError, match="no images"):
        plot.tile(torch.zeros(0, 1, 2, 2))
    with pytest.raises(ValueError, match="must be"):
        plot.tile(torch.zeros(2, 3))


def test_figures_draw_and_save(tmp_path):
    hist = History(records=[{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}])
    figs = [
        plot.image_grid(torch.rand(9, 1, 8, 8), title="x"),
        plot.scatter2d(torch.randn(100, 2), reference=torch.randn(100, 2), centers=torch.zeros(1, 2)),
        plot.surface(lambda p: p[:, 0] * p[:, 1], lim=2, n=20),
        plot.latent_scatter(torch.randn(30, 2), torch.arange(30) % 3),
        plot.curves(hist, "loss"),
    ]
    for i, fig in enumerate(figs):
        path = plot.save(fig, tmp_path / f"{i}.png")
        assert path.stat().st_size > 1000
    with pytest.raises(KeyError, match="kl"):
        plot.curves(hist, "kl")


def test_surface_evaluates_the_function_on_the_grid():
    fig = plot.surface(lambda p: p[:, 0], lim=1, n=5)
    img = fig.axes[0].images[0].get_array()
    assert np.allclose(np.asarray(img)[0], np.linspace(-1, 1, 5))


def test_scatter2d_shows_data_samples_and_centres_apart_with_a_legend():
    data, samples, centres = torch.randn(50, 2), torch.randn(60, 2) + 3, torch.zeros(2, 2)
    ax = plot.scatter2d(samples, reference=data, centers=centres).axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["data", "samples", "mode centres"]
    by_label = {c.get_label(): c for c in ax.collections}
    assert len(by_label["data"].get_offsets()) == 50 and len(by_label["samples"].get_offsets()) == 60
    # the data sit above the samples, and the centres are hollow, so neither hides the data
    assert by_label["data"].get_zorder() > by_label["samples"].get_zorder()
    assert by_label["mode centres"].get_facecolor().size == 0
    assert not np.allclose(by_label["data"].get_facecolor()[0, :3], by_label["samples"].get_facecolor()[0, :3])
    # the data alone: no legend unless asked, and coloured as data when labelled so
    alone = plot.scatter2d(data, label="data").axes[0]
    assert alone.get_legend() is None
    assert np.allclose(alone.collections[0].get_facecolor()[0, :3], by_label["data"].get_facecolor()[0, :3])


# ------------------------------------------------------------- what every figure guarantees a reader

def drawn_texts(artist):
    """The texts a figure draws: visible ones, not the ticks of a hidden axis or out of view."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.text import Text
    if not artist.get_visible():
        return []
    if isinstance(artist, Text):
        return [artist]
    if isinstance(artist, Axis):
        ticks = artist._update_ticks()                   # the ticks drawn: those in view
        labels = [lab for t in ticks for lab in (t.label1, t.label2) if t.get_visible() and lab.get_visible()]
        return labels + [t for t in (artist.label, artist.offsetText) if t.get_visible()]
    children = artist.get_children()
    if isinstance(artist, Axes) and not artist.axison:
        children = [c for c in children if not isinstance(c, Axis)]
    return [t for c in children for t in drawn_texts(c)]


def assert_readable_as_displayed(fig, what=""):
    """What a reader sees once JupyterLab, the site or GitHub scale the figure to the output
    column: a figure no wider than MAX_FIGURE_INCHES is shown at its own size, so every image
    of a grid at least MIN_IMAGE_INCHES and every text at least 8 pt, all inside the figure."""
    from matplotlib.text import Text
    width, _ = fig.get_size_inches()
    assert width <= plot.MAX_FIGURE_INCHES + 1e-6, f"{what}: {width:.2f} in wide, shown scaled down"
    fig.draw_without_rendering()
    for ax in fig.axes:
        if getattr(ax, "genlearn_grid", None):
            assert plot.shown_image_inches(ax) >= plot.MIN_IMAGE_INCHES, (what, ax.get_title())
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)          # as it is saved to PNG
    canvas.draw()
    renderer = canvas.get_renderer()
    fig_box = fig.bbox
    for text in drawn_texts(fig):
        if text.get_text().strip():
            assert text.get_fontsize() >= plot.MIN_LEGEND_FONTSIZE, (what, text.get_text())
            box = text.get_window_extent(renderer)
            assert (box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1 and box.y0 >= fig_box.y0 - 1
                    and box.y1 <= fig_box.y1 + 1), f"{what}: text {text.get_text()!r} is cut off at the edge"


@pytest.mark.parametrize("n, ncols, px, size, panels", [
    (16, 8, 32, 3.6, 2), (40, 10, 8, 4.5, 2), (60, 12, 16, 5.0, 2), (4, 2, 16, 3.6, 2),
    (32, 8, 16, 3.0, 3),        # lesson 12 c14: three panels of 4 x 8 grew to 26 inches
    (36, 6, 16, 3.2, 3),        # lesson 10 c12: 19.7 inches
    (80, 8, 16, 4.5, 0),        # a figure of its own, rows with a meaning (07: y = 0..9)
    (144, 12, 16, 5.0, 0)])
def test_image_grid_draws_every_image_at_least_the_minimum_size_in_a_figure_shown_unscaled(n, ncols, px, size, panels):
    # lesson 09's phantom strip (two panels of 2 x 8 images on a 7.2-inch-wide figure) drew
    # each image 40 pixels wide; growing the figure to fix that made figures up to 26 inches
    # wide, which the notebook scales down again: the grid now wraps within the maximum width
    if panels:
        fig, axes = plot.new_axes(ncols=panels, size=size)
        for ax in axes:
            plot.image_grid(torch.rand(n, 1, px, px), ncols, ax=ax, title="a title")
    else:
        fig = plot.image_grid(torch.rand(n, 1, px, px), ncols, size=size, title="a title")
    assert_readable_as_displayed(fig, (n, ncols, px, size, panels))
    grids = [ax.genlearn_grid for ax in fig.axes]
    assert all(g["shown"] == n for g in grids), "every image is shown"
    assert len({g["ncols"] for g in grids}) == 1, "panels of the same images wrap alike"
    if not panels:
        assert grids[0]["ncols"] == ncols, "a figure of its own keeps its columns (they may mean something)"
    rows_inches = max(g["nrows"] for g in grids) * plot.shown_image_inches(fig.axes[0]) * (px + 1) / px
    assert fig.get_size_inches()[1] < rows_inches + 0.8, "no blank band above and below the grids"
    # a grid that is already large enough keeps its size
    fig = plot.image_grid(torch.rand(4, 1, 8, 8), 2, size=4.0)
    assert tuple(fig.get_size_inches()) == (4.0, 4.0)


def test_a_grid_too_tall_even_wrapped_shows_its_first_images_and_says_so():
    fig = plot.image_grid(torch.rand(400, 1, 8, 8), 40, title="many")
    assert_readable_as_displayed(fig)
    grid = fig.axes[0].genlearn_grid
    assert grid["shown"] < 400 and fig.axes[0].get_title() == f"many (first {grid['shown']} of 400)"


def test_helpers_never_make_a_figure_wider_than_the_maximum():
    fig, axes = plot.new_axes(ncols=4, size=3.0)        # lesson 10 c6 asked for 12 inches
    assert fig.get_size_inches()[0] <= plot.MAX_FIGURE_INCHES
    hist = History(records=[{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}])
    for fig in [plot.scatter2d(torch.randn(100, 2), reference=torch.randn(100, 2), centers=torch.zeros(1, 2)),
                plot.surface(lambda p: p[:, 0], lim=1, n=5, label="D(x)"),
                plot.latent_scatter(torch.randn(100, 2), torch.arange(100) % 10), plot.curves(hist, "loss")]:
        assert_readable_as_displayed(fig)


def legend_box(ax):
    ax.figure.draw_without_rendering()
    return ax.get_legend().get_window_extent(), ax.get_window_extent()


def test_scatter2d_puts_its_legend_outside_when_inside_it_would_cover_data():
    # samples everywhere in the square: no spot inside is free, so the legend goes to the right
    grid = torch.stack(torch.meshgrid(torch.linspace(-2, 2, 40), torch.linspace(-2, 2, 40), indexing="ij"), -1)
    fig = plot.scatter2d(grid.reshape(-1, 2), reference=torch.randn(300, 2) * 0.3, lim=2.2)
    legend, axes_box = legend_box(fig.axes[0])
    assert legend.x0 >= axes_box.x1 - 1, "the legend should sit outside the axes, right of the data"
    # data only in one corner: the legend stays inside, where it covers nothing
    corner = torch.rand(200, 2) * 0.5 + 1.4
    fig = plot.scatter2d(corner, reference=corner + 0.01, lim=2.0)
    ax = fig.axes[0]
    legend, axes_box = legend_box(ax)
    assert axes_box.x0 <= legend.x0 and legend.x1 <= axes_box.x1 + 1, "room inside: the legend stays there"
    assert not plot.covers_data(ax, ax.get_legend())


def test_legend_outside_check_sees_lines_and_bars_not_only_points():
    fig, ax = plot.new_axes()
    ax.plot([0, 1], [0.9, 0.9], label="a line across the top")        # only two vertices, far apart
    ax.plot([0, 1], [0.1, 0.1], label="and the bottom")
    ax.set_ylim(0, 1)
    leg = ax.legend(loc="upper center")
    assert plot.covers_data(ax, leg), "a legend over the middle of a line covers it"
    fig, ax = plot.new_axes()
    ax.bar(range(5), [1, 1, 1, 1, 1], width=1.0, label="bars filling the axes")
    assert plot.covers_data(ax, ax.legend(loc="center"))


def test_legends_are_readable():
    figs = [plot.scatter2d(torch.randn(100, 2), reference=torch.randn(100, 2), centers=torch.zeros(1, 2)),
            plot.latent_scatter(torch.randn(100, 2), torch.arange(100) % 10),
            plot.curves(History(records=[{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}]), "loss")]
    fig, ax = plot.new_axes()
    ax.plot([0, 1], [0, 1], label="x")
    plot.legend(ax, fontsize=5)   # asking for less than the minimum still gets the minimum
    for fig in figs + [fig]:
        for text in fig.axes[0].get_legend().get_texts():
            assert text.get_fontsize() >= plot.MIN_LEGEND_FONTSIZE, (fig.axes[0].get_title(), text.get_text())


def test_every_axis_of_every_helper_is_labelled():
    hist = History(records=[{"step": 1, "loss": 3.0, "kl": 1.0}, {"step": 2, "loss": 2.0, "kl": 0.5}])
    figs = {"scatter2d": plot.scatter2d(torch.randn(50, 2)),
            "surface": plot.surface(lambda p: p[:, 0], lim=1, n=5, label="D(x)"),
            "latent_scatter": plot.latent_scatter(torch.randn(30, 2), torch.arange(30) % 3),
            "curves": plot.curves(hist, ["loss", "kl"], ylabel="nats")}
    for name, fig in figs.items():
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":   # a colour bar has one axis: what the colours mean
                assert ax.get_ylabel(), f"{name}: a colour bar without a label"
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: an axis without a label"
    assert figs["curves"].axes[0].get_ylabel() == "nats"
    assert plot.curves(hist, ["loss", "kl"]).axes[0].get_ylabel() == "loss, kl"


def test_latent_scatter_tells_classes_apart_by_marker_as_well_as_colour():
    # ten colours include close pairs on small dots (Tol's indigo and black): shape is a second cue
    ax = plot.latent_scatter(torch.randn(200, 2), torch.arange(200) % 10).axes[0]
    paths = [coll.get_paths()[0].vertices.round(3).tobytes() for coll in ax.collections]
    assert len(ax.collections) == 10 and len(set(paths)) == 10, "one marker shape per class"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [str(i) for i in range(10)]


def test_a_point_whose_marker_reaches_under_the_legend_counts_as_covered():
    fig, ax = plot.new_axes()
    ax.scatter([0.0], [0.0], s=90, facecolors="none", edgecolors="k", label="a mode centre")
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    leg = ax.legend(loc="upper left")
    fig.draw_without_rendering()
    box = leg.get_window_extent()
    # the centre 3 pixels right of the frame: its hollow circle (radius about 6 px) reaches under it
    ax.collections[0].set_offsets([ax.transData.inverted().transform((box.x1 + 3, (box.y0 + box.y1) / 2))])
    assert plot.covers_data(ax, leg)


def test_figure_legend_gives_panels_of_the_same_things_one_legend_below_them():
    fig, axes = plot.new_axes(ncols=3, size=2.4)
    for ax in axes:
        plot.scatter2d(torch.randn(200, 2), reference=torch.randn(200, 2), centers=torch.zeros(1, 2), ax=ax, legend=False)
    leg = plot.figure_legend(fig, axes[0])
    assert all(ax.get_legend() is None for ax in axes) and fig.legends == [leg]
    assert [t.get_text() for t in leg.get_texts()] == ["data", "samples", "mode centres"]
    assert min(t.get_fontsize() for t in leg.get_texts()) >= plot.MIN_LEGEND_FONTSIZE
    fig.draw_without_rendering()
    assert leg.get_window_extent().y1 <= min(ax.get_window_extent().y0 for ax in axes), "below the panels"


def test_a_labelled_grid_keeps_its_rows_and_columns_and_names_them():
    fig = plot.image_grid(torch.rand(12, 1, 16, 16), 4, row_labels=["z1", "z2", "z3"],
                          col_labels=["-1", "0", "1", "2"], xlabel="value", ylabel="dimension")
    ax = fig.axes[0]
    assert_readable_as_displayed(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z1", "z2", "z3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-1", "0", "1", "2"]
    assert ax.genlearn_grid["ncols"] == 4
    with pytest.raises(ValueError, match="row_labels must name each of the 3 rows"):
        plot.image_grid(torch.rand(12, 1, 8, 8), 4, row_labels=["z1"])
    fig = Figure(figsize=(plot.MAX_FIGURE_INCHES, 2))
    ax = fig.subplots(1, 3)[0]
    with pytest.raises(ValueError, match="labelled grid of 10 columns needs an axes"):
        plot.image_grid(torch.rand(20, 1, 8, 8), 10, ax=ax, row_labels=["a", "b"])   # wrapping would mislabel
