import numpy as np
import pytest
import torch

from genlearn.models import VAE
from genlearn.models.diffusion import Diffusion
from genlearn.widgets.applications import DiffusionExplorer, LatentAnimation, LatentTraversal, interpolate


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(x_shape=(1, 8, 8), latent_dim=4, hidden=(32,)).eval()


def test_interpolate_hits_both_ends_and_slerp_keeps_the_norm():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    line, arc = interpolate(a, b, 5, spherical=False), interpolate(a, b, 5)
    assert line.shape == arc.shape == (5, 2)
    assert torch.allclose(arc[0], a, atol=1e-5) and torch.allclose(arc[-1], b, atol=1e-5)
    assert line[2].norm() < 2.2 and arc[2].norm() == pytest.approx(3.0, rel=1e-4)
    with pytest.raises(ValueError, match="frames"):
        interpolate(a, b, 1)
    with pytest.raises(ValueError, match="two"):
        interpolate(a, torch.zeros(3), 4)


def test_latent_animation_shows_the_chosen_frame(vae):
    path = interpolate(torch.full((4,), -2.0), torch.full((4,), 2.0), 6, spherical=False)
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


def test_latent_traversal_changes_one_coordinate(vae):
    z0 = torch.zeros(4)
    w = LatentTraversal(vae, z0, span=2.0, dims=[1, 3])
    assert w.state["dim"] == 1 and w.state["value"] == 0.0
    base, png = w.state["image"], w.image.value
    w.value.value = 2.0
    assert w.image.value != png and not np.allclose(w.state["image"], base)
    z = z0.clone()
    z[1] = 2.0
    assert np.allclose(w.state["image"], vae.mean(vae.decode(z[None]))[0].detach().numpy(), atol=1e-6)
    w.dim.value = 3
    assert w.state["dim"] == 3
    with pytest.raises(ValueError, match="dims"):
        LatentTraversal(vae, z0, dims=[4])
    with pytest.raises(ValueError, match="span"):
        LatentTraversal(vae, z0, span=0)
    with pytest.raises(ValueError, match="z0"):
        LatentTraversal(vae, torch.zeros(2, 4))


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
    with pytest.raises(ValueError, match="at least 2"):
        DiffusionExplorer(traj[:1])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        DiffusionExplorer([torch.zeros(3, 3), torch.zeros(3, 3)])
    with pytest.raises(ValueError, match="steps_between"):
        DiffusionExplorer(traj, steps_between=0)
