import ipywidgets as W
import numpy as np
import pytest
import torch

from genlearn.data import digits, sprites
from genlearn.models import VAE, Autoencoder
from genlearn.widgets.vae import (BetaSelector, LatentExplorer, LatentTraversal, ReconstructionBrowser,
                                  factor_correlations, interpolate, kl_per_dimension, traverse)


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


def test_traverse_changes_only_the_chosen_dimension():
    model = vae(latent_dim=3)
    z0 = torch.zeros(3)
    images = traverse(model, z0, dims=[0, 2], values=[-2.0, 0.0, 2.0])
    assert images.shape == (2, 3, 1, 8, 8)
    # the middle column (value 0) decodes z0 itself in both rows
    torch.testing.assert_close(images[0, 1], images[1, 1])
    assert not torch.allclose(images[0, 0], images[0, 2])
    with pytest.raises(ValueError, match="dims"):
        traverse(model, z0, dims=[3], values=[0.0])


def test_interpolate_ends_at_the_two_reconstructions(test_digits):
    model = vae(latent_dim=4)
    a, b = test_digits.x[0], test_digits.x[1]
    path = interpolate(model, a, b, n=5)
    assert path.shape == (5, 1, 8, 8)
    torch.testing.assert_close(path[0], model.reconstruct(a[None])[0])
    torch.testing.assert_close(path[-1], model.reconstruct(b[None])[0])
    with pytest.raises(ValueError, match="n must be"):
        interpolate(model, a, b, n=1)


def test_kl_and_factor_correlation_shapes_and_values():
    s = sprites(300, seed=3)
    model = vae(x_shape=(1, 32, 32), arch="conv", latent_dim=5)
    kl = kl_per_dimension(model, s.x)
    assert kl.shape == (5,) and (kl >= 0).all()
    corr = factor_correlations(model, s.x, s.factors)
    assert corr.shape == (5, 5) and (corr >= 0).all() and (corr <= 1 + 1e-9).all()
    with pytest.raises(ValueError, match="factor rows"):
        factor_correlations(model, s.x, s.factors[:10])


def test_latent_traversal_picks_dimension_and_image(test_digits):
    model = vae(latent_dim=4)
    w = LatentTraversal(model, test_digits.x[:50], n_steps=5)
    assert len(w.state["dims"]) == 4 and w.state["images"].shape == (4, 5, 1, 8, 8)
    png = w.image.value
    d = w.order[1]
    w.dim.value = d
    assert w.state["dims"] == [d] and w.state["images"].shape == (1, 5, 1, 8, 8) and w.image.value != png
    images = w.state["images"].copy()
    w.index.value = 7
    assert w.state["index"] == 7 and not np.allclose(w.state["images"], images)
    w.span.value = 1.0
    assert w.state["values"].max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_steps"):
        LatentTraversal(model, test_digits.x, n_steps=1)


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
