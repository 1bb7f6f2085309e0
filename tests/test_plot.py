import numpy as np
import pytest
import torch

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
