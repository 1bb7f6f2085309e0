import ipywidgets as W
import numpy as np
import pytest
import torch

from genlearn.data import digits, sprites
from genlearn.models import VAE, Autoencoder
from genlearn.widgets.vae import BetaSelector, LatentExplorer, ReconstructionBrowser


@pytest.fixture(scope="module")
def test_digits():
    return digits("test")


def vae(**kw):
    torch.manual_seed(0)
    return VAE(**{"hidden": (32,), **kw}).eval()


def test_latent_explorer_sliders_move_z_and_the_decoded_image(test_digits):
    w = LatentExplorer(vae(latent_dim=2), test_digits)
    assert len(w.sliders) == 2 and all(isinstance(s, W.FloatSlider) for s in w.sliders)
    png, image = w.image.value, w.state["image"].copy()
    np.testing.assert_array_equal(w.state["z"], [0.0, 0.0])
    w.sliders[0].value = 2.5
    np.testing.assert_allclose(w.state["z"], [2.5, 0.0])
    assert not np.allclose(w.state["image"], image), "moving z1 must change the decoded image"
    assert w.image.value != png
    w.set_z([-1.0, 1.0])
    np.testing.assert_allclose(w.state["z"], [-1.0, 1.0])
    assert "image/png" in w._repr_mimebundle_()



def test_latent_explorer_says_what_its_grey_levels_mean(test_digits):
    """The decoded image comes with a labelled scale (lesson 13 asks which tiles are above one
    half, and the grid's mid-grey frame looked like a pixel at 0.5), and stays readable as shown."""
    from test_plot import assert_readable_as_displayed

    w = LatentExplorer(vae(latent_dim=2), test_digits)
    fig = w.draw()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and "E[x|z]" in bars[0].get_ylabel(), [ax.get_label() for ax in fig.axes]
    assert bars[0].get_ylim() == (0.0, 1.0)
    assert_readable_as_displayed(fig, "LatentExplorer")

def test_latent_explorer_caps_sliders_and_follows_the_label():
    model = vae(latent_dim=12, n_classes=10)
    w = LatentExplorer(model, n_sliders=4)
    assert len(w.sliders) == 4 and w.state["z"].shape == (12,)
    image = w.state["image"].copy()
    w.label.value = 7
    assert w.state["y"] == 7 and not np.allclose(w.state["image"], image)


def test_latent_explorer_validates():
    with pytest.raises(ValueError, match="n_sliders"):
        LatentExplorer(vae(latent_dim=2), n_sliders=0)
    with pytest.raises(ValueError, match="lim"):
        LatentExplorer(vae(latent_dim=2), lim=0)


def test_reconstruction_browser_switches_model_and_page(test_digits):
    x = test_digits.x[:40]
    torch.manual_seed(0)
    models = {2: Autoencoder(latent_dim=2), 16: Autoencoder(latent_dim=16)}
    w = ReconstructionBrowser(models, x, n_show=8)
    assert w.state["model"] == 16 and w.state["recon"].shape == (8, 1, 8, 8)
    png, recon = w.image.value, w.state["recon"].copy()
    w.which.value = 2
    assert w.state["model"] == 2 and not np.allclose(w.state["recon"], recon) and w.image.value != png
    w.start.value = 8
    assert w.state["start"] == 8
    with pytest.raises(ValueError, match="non-empty"):
        ReconstructionBrowser({}, x)
    with pytest.raises(ValueError, match="n_show"):
        ReconstructionBrowser(models, x, n_show=100)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ReconstructionBrowser(models, x.flatten(1))


def test_beta_selector_switches_models():
    s = sprites(120, seed=5)
    torch.manual_seed(0)
    models = {1.0: VAE(x_shape=(1, 32, 32), arch="conv", latent_dim=4, base_channels=8).eval(),
              4.0: VAE(x_shape=(1, 32, 32), arch="conv", latent_dim=4, base_channels=8).eval()}
    w = BetaSelector(models, s.x, s.factors, s.factor_names, n_rows=3, n_steps=4)
    assert w.state["beta"] == 1.0 and w.state["images"].shape == (3, 4, 1, 32, 32)
    assert w.state["corr"].shape == (4, 5)
    png, kl = w.image.value, w.state["kl"].copy()
    w.beta.value = 4.0
    assert w.state["beta"] == 4.0 and not np.allclose(w.state["kl"], kl) and w.image.value != png
    with pytest.raises(ValueError, match="non-empty"):
        BetaSelector({}, s.x)
    with pytest.raises(ValueError, match="factor rows"):
        BetaSelector(models, s.x, s.factors[:5])


def test_beta_selector_labels_its_traversal_rows_and_range_and_says_how_many_images_its_kl_used():
    # lesson 04 c12: the traversal had no row labels and no statement of the -2.5..2.5 range, and
    # its KL (on n_eval images) could order dimensions differently from c17's (200 images)
    from test_plot import assert_readable_as_displayed
    s = sprites(120, seed=5)
    torch.manual_seed(0)
    models = {1.0: VAE(x_shape=(1, 32, 32), arch="conv", latent_dim=6, base_channels=8).eval()}
    w = BetaSelector(models, s.x, s.factors, s.factor_names, n_eval=100)
    assert_readable_as_displayed(w.figure, "BetaSelector")
    trav = [ax for ax in w.figure.axes if getattr(ax, "genlearn_grid", None)][0]
    assert [t.get_text() for t in trav.get_yticklabels()] == [f"z{d + 1}" for d in w.state["dims"]]
    cols = [t.get_text() for t in trav.get_xticklabels()]
    assert cols[0] == "-2.5" and cols[-1] == "2.5" and len(cols) == 7
    assert "-2.5 to 2.5" in trav.get_xlabel()
    assert any("100 images" in ax.get_title() for ax in w.figure.axes), "the KL's image count"


def test_reconstruction_browser_keeps_each_image_above_its_reconstruction_readable(test_digits):
    # wrapping the 2 x n_show grid to fit 9.5 in would put reconstructions under other images
    from test_plot import assert_readable_as_displayed
    torch.manual_seed(0)
    w = ReconstructionBrowser({2: Autoencoder(latent_dim=2), 16: Autoencoder(latent_dim=16)},
                              test_digits.x[:40], n_show=10)
    assert_readable_as_displayed(w.figure, "ReconstructionBrowser")
    grid = [ax for ax in w.figure.axes if getattr(ax, "genlearn_grid", None)][0]
    assert grid.genlearn_grid["ncols"] == 10 and grid.genlearn_grid["nrows"] == 2
    assert [t.get_text() for t in grid.get_yticklabels()] == ["x", "recon."]
