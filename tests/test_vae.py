import math

import pytest
import torch

from genlearn.models import VAE, VAEConfig, kl_normal_std, reparameterize


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(4, 3)
    assert torch.allclose(kl_normal_std(zeros, zeros), torch.zeros(4))
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert (kl_normal_std(mu, logvar) > 0).all()


def test_closed_form_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    z = q.sample((200_000,))
    p = torch.distributions.Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean()
    assert kl_normal_std(mu, logvar).item() == pytest.approx(mc.item(), abs=0.01)


def test_gradients_flow_through_the_reparameterization():
    mu = torch.zeros(5, 2, requires_grad=True)
    logvar = torch.zeros(5, 2, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    (z ** 2).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0


def test_reparameterized_samples_have_the_right_moments():
    mu, logvar = torch.full((100_000, 1), 2.0), torch.full((100_000, 1), math.log(0.25))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.01)
    assert z.std().item() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("arch,shape", [("mlp", (1, 8, 8)), ("conv", (1, 32, 32)), ("conv", (1, 8, 8))])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_is_recon_minus_kl_with_right_shapes(arch, shape, likelihood):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(x_shape=shape, arch=arch, latent_dim=4, likelihood=likelihood))
    x = (torch.rand(6, *shape) > 0.5).float()
    terms = vae.elbo(x)
    assert terms.elbo.shape == terms.recon.shape == terms.kl.shape == (6,)
    assert torch.allclose(terms.elbo, terms.recon - terms.kl)
    assert (terms.kl >= 0).all()
    if likelihood == "bernoulli":
        assert (terms.recon <= 0).all()  # log-probabilities of binary data
    assert vae.sample(3).shape == (3, *shape)
    assert vae.reconstruct(x).shape == x.shape


def test_bernoulli_recon_is_the_log_probability_of_the_pixels():
    vae = VAE(VAEConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
    logits = torch.tensor([[0.0, 2.0, -1.0, 3.0]])
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert vae.log_likelihood(logits, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gaussian_recon_is_a_normal_log_density():
    vae = VAE(VAEConfig(x_shape=(3,), latent_dim=2, hidden=(8,), likelihood="gaussian"))
    with torch.no_grad():
        vae.log_sigma.fill_(math.log(0.5))
    mean, x = torch.zeros(1, 3), torch.tensor([[0.1, -0.2, 0.3]])
    expected = torch.distributions.Normal(mean, 0.5).log_prob(x).sum()
    assert vae.log_likelihood(mean, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_beta_weights_only_the_kl_in_the_loss():
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    losses = {}
    for beta in (0.0, 1.0, 4.0):
        torch.manual_seed(1)
        vae = VAE(VAEConfig(beta=beta))
        torch.manual_seed(2)
        loss, parts = vae.loss(x)
        losses[beta] = (loss.item(), parts)
    recon, kl = losses[1.0][1]["recon"].item(), losses[1.0][1]["kl"].item()
    assert losses[0.0][0] == pytest.approx(-recon, rel=1e-5)
    assert losses[4.0][0] == pytest.approx(-recon + 4 * kl, rel=1e-5)


def test_conditional_vae_needs_and_uses_labels():
    torch.manual_seed(0)
    cvae = VAE(VAEConfig(n_classes=10, latent_dim=2))
    x = torch.rand(4, 1, 8, 8).round()
    y = torch.tensor([0, 1, 2, 3])
    assert cvae.elbo(x, y).elbo.shape == (4,)
    z = torch.zeros(2, 2)
    assert not torch.allclose(cvae.decode(z, torch.tensor([0, 0])), cvae.decode(z, torch.tensor([7, 7])))
    with pytest.raises(ValueError, match="conditional on 10 classes"):
        cvae.elbo(x)
    with pytest.raises(ValueError, match="0..9"):
        cvae.elbo(x, torch.tensor([0, 1, 2, 10]))
    assert cvae.sample(5, y=3).shape == (5, 1, 8, 8)


def test_bad_inputs_get_clear_errors():
    vae = VAE(VAEConfig())
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 8, 8\), got \(2, 64\)"):
        vae.elbo(torch.rand(2, 64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        vae.encode([[0.0] * 64])
    with pytest.raises(ValueError, match="z must be"):
        vae.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="unconditional"):
        vae.elbo(torch.rand(2, 1, 8, 8), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="unknown likelihood"):
        VAEConfig(likelihood="poisson")
    with pytest.raises(ValueError, match="side of 8, 16, 32"):
        VAE(VAEConfig(x_shape=(1, 12, 12), arch="conv"))


def test_output_bias_starts_the_decoder_at_the_mean_image():
    vae = VAE(VAEConfig(x_shape=(1, 8, 8), latent_dim=2))
    mean = torch.rand(1, 8, 8) * 0.8 + 0.1
    vae.init_output_bias(mean)
    with torch.no_grad():
        for p in vae.dec[:-1].parameters():
            p.zero_()
        vae.dec[-1].weight.zero_()
    assert torch.allclose(vae.sample(1)[0], mean, atol=1e-5)


def test_config_and_overrides_merge_instead_of_one_winning():
    from genlearn.models import GAN, GANConfig, Autoencoder, AutoencoderConfig, Diffusion, DiffusionConfig
    cfg = VAEConfig(hidden=(8,))
    merged = VAE(cfg, latent_dim=2)
    assert merged.config.latent_dim == 2 and merged.config.hidden == (8,) and cfg.latent_dim == 16
    assert VAE(cfg).config is cfg
    assert GAN(GANConfig(hidden=(8,)), latent_dim=3).config.latent_dim == 3
    assert Autoencoder(AutoencoderConfig(hidden=(8,)), latent_dim=3).config.latent_dim == 3
    assert Diffusion(DiffusionConfig(hidden=(8,)), T=7).config.T == 7
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(cfg, latent_dim=0)  # a merged config is validated again
    with pytest.raises(TypeError, match=r"unknown VAEConfig field\(s\) \['latent'\]"):
        VAE(cfg, latent=2)
    with pytest.raises(TypeError, match="config must be a VAEConfig"):
        VAE(GANConfig())


# ----------------------------------------------------------------- autoregressive pixels


def _linked_vae(**kw):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(x_shape=(1, 4, 4), latent_dim=2, hidden=(8,), autoregressive=True, **kw))
    with torch.no_grad():
        vae.pixel_links.weight.normal_()
    return vae


def test_autoregressive_pixel_i_depends_on_z_and_earlier_pixels_only():
    vae = _linked_vae()
    x = (torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    out = torch.randn(3, 1, 4, 4)
    for i in range(16):
        x.requires_grad_(True)
        flat_logits = (out + vae.pixel_links(x.flatten(1)).view_as(out)).flatten(1)
        (grad,) = torch.autograd.grad(flat_logits[:, i].sum(), x)
        reads = grad.flatten(1).abs().sum(0) > 0
        assert not reads[i:].any(), f"pixel {i} must not read itself or later pixels"
        assert reads[:i].all(), f"pixel {i} should read every earlier pixel"
        x = x.detach()
    # the likelihood is the product of those conditionals, pixel by pixel
    logits = (out + vae.pixel_links(x.flatten(1)).view_as(out)).flatten(1)
    by_hand = torch.distributions.Bernoulli(logits=logits).log_prob(x.flatten(1)).sum(1)
    assert torch.allclose(vae.log_likelihood(out, x), by_hand, atol=1e-5)


def test_autoregressive_vae_starts_as_the_plain_vae_and_sums_to_one():
    torch.manual_seed(0)
    linked = VAE(VAEConfig(x_shape=(1, 4, 4), latent_dim=2, hidden=(8,), autoregressive=True))
    torch.manual_seed(0)
    plain = VAE(VAEConfig(x_shape=(1, 4, 4), latent_dim=2, hidden=(8,)))
    x = (torch.rand(5, 1, 4, 4) > 0.5).float()
    out = torch.randn(5, 1, 4, 4)
    assert torch.equal(linked.log_likelihood(out, x), plain.log_likelihood(out, x))
    assert torch.allclose(linked.mean(out), plain.mean(out), atol=1e-6)
    # with links, p(x|z) is still a distribution: it sums to 1 over all 2^6 binary images
    vae = _linked_vae()
    small = VAE(VAEConfig(x_shape=(6,), latent_dim=2, hidden=(4,), autoregressive=True))
    with torch.no_grad():
        small.pixel_links.weight.normal_(std=2.0)
    images = torch.tensor([[(k >> b) & 1 for b in range(6)] for k in range(64)], dtype=torch.float32)
    out6 = torch.randn(1, 6).expand(64, 6)
    assert small.log_likelihood(out6, images).exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    assert vae.config.autoregressive


def test_autoregressive_samples_follow_the_links_pixel_by_pixel():
    # pixel 0 is a fair coin; every later pixel copies the one before it (a strong link)
    vae = VAE(VAEConfig(x_shape=(5,), latent_dim=1, hidden=(4,), autoregressive=True))
    with torch.no_grad():
        for p in vae.dec.parameters():
            p.zero_()
        vae.dec[-1].bias.copy_(torch.tensor([0.0, -30.0, -30.0, -30.0, -30.0]))
        vae.pixel_links.weight.copy_(torch.diag(torch.full((4,), 60.0), -1))
    x = vae.sample(2000, generator=torch.Generator().manual_seed(0), mean=False)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert 0.45 < x[:, 0].mean() < 0.55, "pixel 0 is a fair coin"
    assert torch.equal(x, x[:, :1].expand_as(x)), "each pixel copies the one before it"
    # the mean image feeds each pixel's probability to the next: 0.5 everywhere here
    assert torch.allclose(vae.sample(3), torch.full((3, 5), 0.5), atol=1e-3)
    # the same generator seed gives the same draws
    again = vae.sample(2000, generator=torch.Generator().manual_seed(0), mean=False)
    assert torch.equal(x, again)


def test_autoregressive_needs_binary_pixels_and_a_boolean():
    with pytest.raises(ValueError, match="needs likelihood='bernoulli'"):
        VAEConfig(likelihood="gaussian", autoregressive=True)
    with pytest.raises(ValueError, match="autoregressive must be True or False"):
        VAEConfig(autoregressive=1)


def test_sample_decodes_in_chunks_with_the_same_result(monkeypatch):
    """VAE.sample decodes SAMPLE_CHUNK images at a time (a conv decoder on 2,000 images at once
    held +200 MB, on Binder's 1 GB); the chunks give exactly what one pass gives, labels included."""
    import genlearn.models.vae as vae_module

    torch.manual_seed(0)
    model = VAE(x_shape=(1, 16, 16), arch="conv", base_channels=8, latent_dim=4, n_classes=2).eval()
    y = torch.arange(70) % 2
    monkeypatch.setattr(vae_module, "SAMPLE_CHUNK", 32)
    chunked = model.sample(70, y, generator=torch.Generator().manual_seed(3))
    monkeypatch.setattr(vae_module, "SAMPLE_CHUNK", 10_000)
    whole = model.sample(70, y, generator=torch.Generator().manual_seed(3))
    assert chunked.shape == (70, 1, 16, 16)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_beta_must_be_a_finite_weight_and_autoregressive_a_bool():
    for bad in (-1.0, float("inf"), float("nan"), False):
        with pytest.raises(ValueError, match="beta must be a finite number >= 0, got"):
            VAEConfig(beta=bad)
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="autoregressive must be True or False, got"):
            VAEConfig(autoregressive=bad)
    assert VAEConfig(beta=0).beta == 0
