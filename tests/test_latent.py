"""genlearn.latent: one home for encoding, decoding, interpolating and traversing latent codes."""

import numpy as np
import pytest
import torch

from genlearn.data import digits, sprites
from genlearn.latent import decode, encode, factor_correlations, interpolate, kl_per_dimension, traverse
from genlearn.models import GAN, VAE, Autoencoder, GANConfig, kl_normal_std


def vae(**kw):
    torch.manual_seed(0)
    return VAE(**{"hidden": (32,), **kw}).eval()


def test_encode_is_the_mean_for_a_vae_and_the_code_for_an_autoencoder():
    x = digits("test").x[:5]
    model = vae(latent_dim=3)
    mu, _ = model.encode(x)
    torch.testing.assert_close(encode(model, x), mu)
    torch.manual_seed(0)
    ae = Autoencoder(latent_dim=3)
    torch.testing.assert_close(encode(ae, x), ae.encode(x))


def test_encode_and_decode_take_one_label_for_all_or_one_per_row():
    model = vae(latent_dim=2, n_classes=10)
    z = torch.zeros(3, 2)
    one = decode(model, z, 7)
    torch.testing.assert_close(one, decode(model, z, torch.tensor([7, 7, 7])))
    assert not torch.allclose(one, decode(model, z, 3)), "the label must reach the decoder"
    x = digits("test").x[:3]
    torch.testing.assert_close(encode(model, x, 7), model.encode(x, torch.full((3,), 7))[0])


def test_decode_works_for_vaes_gans_and_functions_on_the_cpu():
    z = torch.randn(4, 2)
    model = vae(latent_dim=2)
    torch.testing.assert_close(decode(model, z), model.mean(model.decode(z)))
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(1, 8, 8), arch="dcgan", latent_dim=2, base_channels=8))
    torch.testing.assert_close(decode(gan, z), gan.sample(4, z=z))
    assert decode(lambda codes: codes * 2, z).device.type == "cpu"
    with pytest.raises(TypeError, match="expected a VAE"):
        decode(object(), z)


def test_interpolate_hits_both_ends_and_slerp_keeps_the_norm():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    line, arc = interpolate(a, b, 5), interpolate(a, b, 5, spherical=True)
    assert line.shape == arc.shape == (5, 2)
    for path in (line, arc):
        assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert line[2].norm() < 2.2 and arc[2].norm() == pytest.approx(3.0, rel=1e-4)
    torch.testing.assert_close(interpolate(a, a, 3, spherical=True), a.expand(3, 2))  # no 0/0
    with pytest.raises(ValueError, match="n must be >= 2"):
        interpolate(a, b, 1)
    with pytest.raises(ValueError, match="two"):
        interpolate(a, torch.zeros(3), 4)


def test_traverse_changes_only_the_chosen_dimension():
    model = vae(latent_dim=3)
    z0 = torch.zeros(3)
    images = traverse(model, z0, dims=[0, 2], values=[-2.0, 0.0, 2.0])
    assert images.shape == (2, 3, 1, 8, 8)
    # the middle column (value 0) decodes z0 itself in both rows
    torch.testing.assert_close(images[0, 1], images[1, 1])
    torch.testing.assert_close(images[0, 1], decode(model, z0[None])[0])
    assert not torch.allclose(images[0, 0], images[0, 2])
    with pytest.raises(ValueError, match="dims"):
        traverse(model, z0, dims=[3], values=[0.0])


def test_kl_per_dimension_sums_to_the_models_kl():
    x = sprites(300, seed=3).x
    model = vae(x_shape=(1, 32, 32), arch="conv", latent_dim=5)
    kl = kl_per_dimension(model, x)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    assert kl.shape == (5,) and (kl >= 0).all()
    assert kl.sum() == pytest.approx(float(kl_normal_std(mu, logvar).mean()), rel=1e-5)


def test_factor_correlations_shape_and_range():
    s = sprites(300, seed=3)
    corr = factor_correlations(vae(x_shape=(1, 32, 32), arch="conv", latent_dim=5), s.x, s.factors)
    assert corr.shape == (5, 5) and (corr >= 0).all() and (corr <= 1 + 1e-9).all()
    with pytest.raises(ValueError, match="factor rows"):
        factor_correlations(vae(x_shape=(1, 32, 32), arch="conv", latent_dim=5), s.x, s.factors[:10])
    assert np.isfinite(corr).all()
