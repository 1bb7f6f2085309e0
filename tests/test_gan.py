import pytest
import torch

from genlearn.models import GAN, GANConfig, LOSSES, d_loss, g_loss, gradient_penalty, r1_penalty


@pytest.mark.parametrize("kind", LOSSES)
def test_loss_signs(kind):
    low, high = torch.full((8,), -2.0), torch.full((8,), 2.0)
    # D's loss falls when it scores real data higher and fakes lower
    assert d_loss(kind, real=high, fake=low) < d_loss(kind, real=low, fake=high)
    # G's loss falls when D scores its samples higher
    assert g_loss(kind, fake=high) < g_loss(kind, fake=low)


def test_minimax_saturates_and_nonsaturating_does_not():
    fake = torch.full((4,), -8.0, requires_grad=True)  # D confidently rejects the fakes
    (grad_mm,) = torch.autograd.grad(g_loss("minimax", fake), fake)
    (grad_ns,) = torch.autograd.grad(g_loss("nonsaturating", fake), fake)
    assert grad_mm.abs().max() < 1e-3 < 0.2 < grad_ns.abs().min()


def test_gan_losses_at_known_values():
    zero = torch.zeros(3)
    assert d_loss("nonsaturating", zero, zero).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())
    assert d_loss("hinge", zero, zero).item() == pytest.approx(2.0)
    assert d_loss("wgan-gp", torch.ones(3), zero).item() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        g_loss("least-squares", zero)


def test_gradient_penalty_is_zero_for_a_unit_slope_linear_critic():
    w = torch.tensor([0.6, 0.8])  # ||w|| = 1
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: x @ (3 * w), real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_uses_one_epsilon_per_sample():
    # critic d(x) = ||x||^2 / 2 has gradient x, so the penalty reveals where x_hat was taken
    critic = lambda x: 0.5 * x.flatten(1).square().sum(1)  # noqa: E731
    real, fake = torch.zeros(64, 3, 2, 2), torch.ones(64, 3, 2, 2)
    got = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    eps = torch.rand(64, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    x_hat = eps * real + (1 - eps) * fake  # one eps per example, shared by its 12 elements
    expected = (x_hat.flatten(1).norm(dim=1) - 1).square().mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="differ in shape"):
        gradient_penalty(lambda x: x.sum(1), torch.zeros(4, 2), torch.zeros(5, 2))


def test_r1_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])
    assert r1_penalty(lambda x: x @ w, torch.randn(10, 2)).item() == pytest.approx(12.5)


def test_penalties_are_differentiable_for_the_critic():
    lin = torch.nn.Linear(2, 1)
    pen = gradient_penalty(lambda x: lin(x).squeeze(1), torch.randn(8, 2), torch.randn(8, 2))
    pen.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("cfg", [
    dict(x_shape=(2,)),
    dict(x_shape=(1, 8, 8), hidden=(64, 64)),
    dict(x_shape=(1, 16, 16), arch="dcgan", base_channels=8),
    dict(x_shape=(1, 32, 32), arch="dcgan", base_channels=8, spectral_norm=True),
    dict(x_shape=(1, 16, 16), arch="dcgan", base_channels=8, n_classes=10),
    dict(x_shape=(2,), n_classes=8, spectral_norm=True),
])
def test_shapes_and_ranges(cfg):
    torch.manual_seed(0)
    gan = GAN(GANConfig(**cfg))
    y = torch.arange(5) % 3 if gan.config.n_classes else None
    x = gan.sample(5, y)
    assert x.shape == (5, *gan.config.x_shape)
    if gan.config.is_image:
        assert 0 <= x.min() and x.max() <= 1
    assert gan.D(x, y).shape == (5,)


def test_conditional_discriminator_uses_the_label():
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(2,), n_classes=4))
    x = torch.randn(3, 2)
    assert not torch.allclose(gan.D(x, torch.tensor([0, 0, 0])), gan.D(x, torch.tensor([3, 3, 3])))


def test_ema_tracks_the_generator():
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(2,), hidden=(8,)))
    gan.enable_ema()
    with torch.no_grad():
        for p in gan.G.parameters():
            p.add_(1.0)
    before = [p.clone() for p in gan.G_ema.parameters()]
    gan.update_ema(0.9)
    for b, e, g in zip(before, gan.G_ema.parameters(), gan.G.parameters()):
        assert torch.allclose(e, 0.9 * b + 0.1 * g)
    assert not any(p.requires_grad for p in gan.G_ema.parameters())


def test_sampling_options():
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(2,)))
    z = torch.randn(4, 16)
    assert torch.equal(gan.sample(4, z=z), gan.sample(4, z=z))
    assert torch.equal(gan.sample(4, z=z * 10, truncation=0.5), gan.sample(4, z=(z * 10).clamp(-0.5, 0.5)))
    with pytest.raises(ValueError, match="z must be"):
        gan.sample(4, z=torch.randn(3, 16))
    with pytest.raises(ValueError, match="n must be >= 1"):
        gan.sample(0)


def test_bad_configs_are_clear():
    with pytest.raises(ValueError, match="unknown loss 'wgan'"):
        GANConfig(loss="wgan")
    with pytest.raises(ValueError, match="unknown arch"):
        GANConfig(arch="stylegan")


# ----------------------------------------------------------------- rejection sampling


def _scored_by_first_coordinate(rejection=0.1):
    """A GAN whose G is the identity on a 2D z and whose D scores x by its first coordinate."""
    gan = GAN(GANConfig(x_shape=(2,), latent_dim=2, hidden=(2,), rejection=rejection))
    with torch.no_grad():
        for p in gan.parameters():
            p.zero_()
        gan.G.net[0].weight.copy_(torch.eye(2))
        gan.G.net[2].weight.copy_(torch.eye(2))
        gan.G.net[1] = torch.nn.Identity()
        gan.D.body = torch.nn.Flatten()
        gan.D.head = torch.nn.Linear(2, 1)
        gan.D.head.weight.copy_(torch.tensor([[1.0, 0.0]]))
        gan.D.head.bias.zero_()
    return gan


def test_rejection_keeps_only_what_d_scores_like_most_real_data():
    gan = _scored_by_first_coordinate(rejection=0.1)
    gen = torch.Generator().manual_seed(0)
    plain = gan.sample(4000, generator=torch.Generator().manual_seed(0))
    assert (plain[:, 0] < 0).float().mean() > 0.4, "before calibration nothing is rejected"
    real = torch.randn(20_000, 2, generator=gen) + torch.tensor([1.0, 0.0])
    threshold = gan.calibrate_rejection(real)
    assert threshold == pytest.approx(1.0 - 1.2816, abs=0.05), "the 10% quantile of N(1, 1)"
    assert (gan.D(real) < threshold).float().mean().item() == pytest.approx(0.1, abs=0.002)
    kept = gan.sample(4000, generator=torch.Generator().manual_seed(0))
    assert kept.shape == (4000, 2) and (kept[:, 0] >= threshold).all()
    assert torch.equal(kept, gan.sample(4000, generator=torch.Generator().manual_seed(0))), "seeded"
    # the accepted samples are G's samples conditioned on passing: N(0, 1) above the threshold
    assert kept[:, 1].std().item() == pytest.approx(1.0, abs=0.05)
    # the caller's own codes, or reject=False: no rejection
    z = torch.full((5, 2), -3.0)
    assert torch.equal(gan.sample(5, z=z), z)
    assert (gan.sample(4000, generator=gen, reject=False)[:, 0] < threshold).any()


def test_rejection_that_accepts_almost_nothing_warns_and_still_returns_n():
    gan = _scored_by_first_coordinate(rejection=0.5)
    gan.calibrate_rejection(torch.full((100, 2), 4.0))  # only z_1 >= 4 passes: 3e-5 of draws
    with pytest.warns(RuntimeWarning, match="reached D's threshold"):
        x = gan.sample(200, generator=torch.Generator().manual_seed(0))
    assert x.shape == (200, 2)


def test_rejection_settings_are_checked_and_travel_in_checkpoints(tmp_path):
    from genlearn.checkpoints import load_checkpoint, save_checkpoint
    for bad in (1.0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="rejection must be a number in"):
            GANConfig(rejection=bad)
    with pytest.raises(ValueError, match="unconditional"):
        GANConfig(rejection=0.1, n_classes=3)
    gan = _scored_by_first_coordinate(rejection=0.1)
    with pytest.raises(RuntimeError, match="without rejection"):
        GAN(GANConfig(x_shape=(2,))).calibrate_rejection(torch.zeros(3, 2))
    gan = GAN(GANConfig(x_shape=(2,), latent_dim=2, hidden=(8,), rejection=0.1))
    threshold = gan.calibrate_rejection(torch.randn(500, 2))
    loaded, _ = load_checkpoint(save_checkpoint(gan, tmp_path / "g.pt"), expect="gan")
    assert float(loaded.accept_above) == pytest.approx(threshold)
    assert torch.equal(loaded.sample(50, generator=torch.Generator().manual_seed(1)),
                       gan.sample(50, generator=torch.Generator().manual_seed(1)))
    assert "accept_above" not in GAN(GANConfig(x_shape=(2,))).state_dict(), "plain GANs keep their keys"


def test_penalty_weights_must_be_finite_and_not_negative():
    for name in ("r1_gamma", "gp_weight"):
        for bad in (-0.1, float("inf"), float("nan"), True, "1"):
            with pytest.raises(ValueError, match=rf"{name} must be a finite number >= 0, got"):
                GANConfig(**{name: bad})
        assert getattr(GANConfig(**{name: 0.0}), name) == 0.0
