import pytest
import torch

from genlearn.data import digits
from genlearn.models import Autoencoder, AutoencoderConfig
from genlearn.train import train_vae


def test_shapes_mlp_and_conv():
    ae = Autoencoder(latent_dim=3)
    x = torch.rand(5, 1, 8, 8)
    assert ae.encode(x).shape == (5, 3)
    assert ae.decode(torch.zeros(5, 3)).shape == (5, 1, 8, 8)
    r = ae.reconstruct(x)
    assert r.shape == x.shape and 0 <= float(r.min()) and float(r.max()) <= 1
    conv = Autoencoder(x_shape=(1, 16, 16), arch="conv", latent_dim=4, base_channels=8)
    assert conv.reconstruct(torch.rand(2, 1, 16, 16)).shape == (2, 1, 16, 16)
    assert ae.sample(7).shape == (7, 1, 8, 8)


def test_loss_is_summed_reconstruction_error():
    ae = Autoencoder(latent_dim=2, loss="mse")
    x = torch.rand(4, 1, 8, 8)
    loss, parts = ae.loss(x)
    expected = (ae.decode(ae.encode(x)) - x).square().flatten(1).sum(1).mean()
    assert torch.allclose(loss, expected)
    assert set(parts) == {"loss", "recon_error"}


@pytest.mark.slow
def test_train_vae_trains_it_and_a_bigger_bottleneck_reconstructs_better():
    data = digits("train", binarize=False)
    test = digits("test", binarize=False)
    errors = {}
    for d in (1, 8):
        torch.manual_seed(0)
        ae = Autoencoder(latent_dim=d, hidden=(128,))
        before = ae.reconstruction_error(test.x)
        train_vae(ae, data, epochs=15, batch_size=64, lr=2e-3, progress=False)
        errors[d] = ae.reconstruction_error(test.x)
        assert errors[d] < 0.6 * before, f"training did not reduce the error for latent_dim={d}"
    assert errors[8] < 0.7 * errors[1], errors


def test_validation_messages():
    with pytest.raises(ValueError, match="latent_dim"):
        AutoencoderConfig(latent_dim=0)
    with pytest.raises(ValueError, match="loss"):
        AutoencoderConfig(loss="l1")
    with pytest.raises(TypeError, match="n_classes"):  # no such field: the plain autoencoder is unconditional
        AutoencoderConfig(n_classes=10)
    ae = Autoencoder(latent_dim=2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 8, 8\)"):
        ae.encode(torch.zeros(3, 64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        ae.encode([[0.0]])
    with pytest.raises(ValueError, match=r"z must be \(B, 2\)"):
        ae.decode(torch.zeros(3, 5))


def test_sample_draws_pixels_only_where_there_is_a_noise_model():
    torch.manual_seed(0)
    ae = Autoencoder(latent_dim=2)
    gen = torch.Generator().manual_seed(0)
    means = ae.sample(50, generator=gen)
    draws = ae.sample(50, generator=torch.Generator().manual_seed(0), mean=False)
    assert set(draws.unique().tolist()) <= {0.0, 1.0} and not torch.equal(draws, means)
    with pytest.raises(ValueError, match="mse"):
        Autoencoder(latent_dim=2, loss="mse").sample(3, mean=False)
    with pytest.raises(ValueError, match="unconditional"):
        ae.sample(3, torch.zeros(3))
