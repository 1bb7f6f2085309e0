"""The latent-space widgets (traversal, animation) and the diffusion explorer."""

import numpy as np
import pytest
import torch

from genlearn.data import digits
from genlearn.latent import decode, interpolate
from genlearn.models import GAN, VAE, Autoencoder, GANConfig
from genlearn.models.diffusion import Diffusion
from genlearn.widgets.diffusion import DiffusionExplorer
from genlearn.widgets.latent import LatentAnimation, LatentTraversal


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(x_shape=(1, 8, 8), latent_dim=4, hidden=(32,)).eval()


@pytest.fixture(scope="module")
def test_digits():
    return digits("test")


def test_latent_animation_shows_the_chosen_frame(vae):
    path = interpolate(torch.full((4,), -2.0), torch.full((4,), 2.0), 6)
    w = LatentAnimation(vae, path)
    assert w.state["frame"] == 0 and len(w.frames) == 6
    first, png = w.state["image"], w.image.value
    w.slider.value = 5
    assert w.state["frame"] == 5 and w.image.value != png
    assert not np.allclose(w.state["image"], first)
    expected = vae.mean(vae.decode(path[5:6]))[0].detach().numpy()
    assert np.allclose(w.state["image"], expected, atol=1e-6)
    with pytest.raises(ValueError, match="path"):
        LatentAnimation(vae, torch.zeros(1, 4))
    with pytest.raises(ValueError, match="interval_ms"):
        LatentAnimation(vae, path, interval_ms=0)
    with pytest.raises(ValueError, match="images"):
        LatentAnimation(lambda z: z, path)


def test_traversal_of_images_orders_rows_by_kl_and_follows_every_control(vae, test_digits):
    w = LatentTraversal(vae, test_digits.x[:50], n_steps=5)
    assert len(w.state["dims"]) == 4 and w.state["images"].shape == (4, 5, 1, 8, 8)
    assert list(w.kl[w.order]) == sorted(w.kl, reverse=True), "rows: most used dimension first"
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
        LatentTraversal(vae, test_digits.x, n_steps=1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        LatentTraversal(vae, test_digits.x.flatten(1))


def test_traversal_from_a_code_sweeps_exactly_that_coordinate(vae):
    z0 = torch.zeros(4)
    w = LatentTraversal(vae, z0=z0, span=2.0, n_steps=3, dims=[1, 3])
    assert w.index is None and w.state["dims"] == [1, 3] and w.kl is None
    z = z0.clone()
    z[1] = 2.0
    np.testing.assert_allclose(w.state["images"][0, -1], decode(vae, z[None])[0].numpy(), atol=1e-6)
    png = w.image.value
    w.dim.value = 3
    assert w.state["dims"] == [3] and w.image.value != png
    with pytest.raises(ValueError, match="dims"):
        LatentTraversal(vae, z0=z0, dims=[4])
    with pytest.raises(ValueError, match="span"):
        LatentTraversal(vae, z0=z0, span=0)
    with pytest.raises(ValueError, match="z0"):
        LatentTraversal(vae, z0=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="not both"):
        LatentTraversal(vae)


def test_traversal_works_for_autoencoders_and_gans(test_digits):
    torch.manual_seed(0)
    ae = Autoencoder(latent_dim=3)
    w = LatentTraversal(ae, test_digits.x[:20], n_steps=3)
    assert w.kl is None and w.state["dims"] == [0, 1, 2], "no KL: dimensions in their own order"
    gan = GAN(GANConfig(x_shape=(1, 8, 8), arch="dcgan", latent_dim=3, base_channels=8))
    w = LatentTraversal(gan, z0=torch.zeros(3), n_steps=3)
    assert w.state["images"].shape == (3, 3, 1, 8, 8)


def test_diffusion_explorer_steps_through_the_trajectory():
    torch.manual_seed(0)
    model = Diffusion(T=20, hidden=(16,), beta_end=0.4)
    _, traj = model.sample(300, generator=torch.Generator().manual_seed(0), return_trajectory=True, keep_every=5)
    w = DiffusionExplorer(traj, steps_between=5, reference=torch.randn(100, 2))
    last = len(traj) - 1
    assert w.state["index"] == last and w.state["t"] == 0
    png = w.image.value
    w.slider.value = 0
    assert w.state["t"] == last * 5 and w.image.value != png
    assert w.state["spread"] == pytest.approx(float(traj[0].std()))
    # six thumbnails from x_T to x_0 in the static picture, and each frame's distance to the data
    assert w.state["thumbnails"][0] == 0 and w.state["thumbnails"][-1] == last and len(w.state["thumbnails"]) == 5
    ref = w.reference
    assert len(w.distance) == len(traj)
    assert w.state["distance"] == pytest.approx(float(torch.cdist(traj[0], ref).min(1).values.mean()), rel=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        DiffusionExplorer(traj[:1])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        DiffusionExplorer([torch.zeros(3, 3), torch.zeros(3, 3)])
    with pytest.raises(ValueError, match="steps_between"):
        DiffusionExplorer(traj, steps_between=0)
