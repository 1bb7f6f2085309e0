import math

import numpy as np
import pytest
import torch

from genlearn import metrics
from genlearn.data import toy2d
from genlearn.models import VAE, VAEConfig


def test_mode_coverage_on_perfect_and_collapsed_samples():
    ring = toy2d("ring", 2500, seed=0)
    perfect = metrics.mode_coverage(ring.x, ring.centers, ring.std)
    assert perfect["modes_covered"] == 8 and perfect["modes_total"] == 8
    assert perfect["high_quality_fraction"] > 0.98  # 3 std of a 2D Gaussian holds 98.9%
    assert perfect["kl_to_uniform"] < 0.01
    collapsed = ring.centers[[0]].repeat(2500, 1)
    c = metrics.mode_coverage(collapsed, ring.centers, ring.std)
    assert c["modes_covered"] == 1 and c["high_quality_fraction"] == 1.0
    assert c["kl_to_uniform"] == pytest.approx(math.log(8))


def test_mode_coverage_counts_only_high_quality_samples():
    ring = toy2d("ring", 10, seed=0)
    far = ring.centers * 1.2  # 0.4 from every centre: 20 std away
    c = metrics.mode_coverage(far, ring.centers, ring.std)
    assert c["modes_covered"] == 0 and c["high_quality_fraction"] == 0.0
    half = torch.cat([ring.centers[:4], far[4:]])
    c = metrics.mode_coverage(half, ring.centers, ring.std)
    assert c["modes_covered"] == 4 and c["high_quality_fraction"] == 0.5


def test_mode_coverage_validates_input():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        metrics.mode_coverage(torch.zeros(5, 3), torch.zeros(2, 2), 0.1)
    with pytest.raises(ValueError, match="std must be > 0"):
        metrics.mode_coverage(torch.zeros(5, 2), torch.zeros(2, 2), 0)


def test_frechet_distance_of_known_gaussians():
    mu1, mu2 = np.zeros(2), np.array([3.0, 4.0])
    assert metrics.frechet_distance_gaussians(mu1, np.eye(2), mu2, np.eye(2)) == pytest.approx(25.0)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert metrics.frechet_distance_gaussians([0.0], [[4.0]], [1.0], [[9.0]]) == pytest.approx(1 + 1)
    # non-commuting covariances: compare with the eigen-decomposition of S1 S2 computed directly
    a = np.array([[2.0, 0.5], [0.5, 1.0]]); b = np.array([[1.0, -0.3], [-0.3, 0.5]])
    tr_sqrt = np.sqrt(np.linalg.eigvals(a @ b)).real.sum()
    assert metrics.frechet_distance_gaussians(mu1, a, mu1, b) == pytest.approx(np.trace(a + b) - 2 * tr_sqrt)


def test_frechet_distance_of_samples_is_small_for_same_and_large_for_shifted():
    g = np.random.default_rng(0)
    a, b = g.normal(size=(4000, 3)), g.normal(size=(4000, 3))
    assert metrics.frechet_distance(a, b) < 0.02
    assert metrics.frechet_distance(a, b + 2) == pytest.approx(12, rel=0.05)
    with pytest.raises(ValueError, match="feature sizes differ"):
        metrics.frechet_distance(a, b[:, :2])


def test_precision_recall_separates_fidelity_from_coverage():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 2, generator=g)
    same = metrics.precision_recall(real, torch.randn(1000, 2, generator=g))
    assert same["precision"] > 0.9 and same["recall"] > 0.9
    # a generator that only makes points near the centre: faithful but narrow
    narrow = metrics.precision_recall(real, 0.2 * torch.randn(1000, 2, generator=g))
    assert narrow["precision"] > 0.9 and narrow["recall"] < 0.3
    # a generator off the data: neither
    off = metrics.precision_recall(real, torch.randn(1000, 2, generator=g) + 8)
    assert off["precision"] == 0 and off["recall"] == 0


def test_nearest_neighbour_distances_find_copies():
    ref = torch.rand(50, 1, 4, 4)
    q = torch.cat([ref[:5], ref[:5] + 0.5])
    d = metrics.nearest_neighbour_distances(q, ref)
    assert torch.allclose(d[:5], torch.zeros(5, dtype=d.dtype)) and (d[5:] > 0).all()


def test_iwae_bound_is_tighter_than_the_elbo_and_k1_matches():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=4))
    x = (torch.rand(64, 1, 8, 8) > 0.5).float()
    nelbo = metrics.negative_elbo(vae, x, seed=0)
    iw1 = metrics.iwae_bound(vae, x, k=1, seed=0)
    iw64 = metrics.iwae_bound(vae, x, k=64, seed=0)
    assert iw1 == pytest.approx(nelbo, rel=0.05)  # both one-sample estimates of -ELBO
    assert iw64 < nelbo
    # exact -ELBO over many samples vs. the k=1 estimate
    many = np.mean([metrics.negative_elbo(vae, x, seed=s) for s in range(20)])
    assert iw64 < many


def test_metrics_refuse_nan_and_empty_inputs_with_what_was_expected():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g)
    fake[0, 0] = float("nan")
    for call, message in [
        (lambda: metrics.precision_recall(real, fake), "fake_feats must hold finite numbers, got 1 NaN"),
        (lambda: metrics.frechet_distance(real, fake), "feats_b must hold finite numbers, got 1 NaN"),
        (lambda: metrics.precision_recall(real[:0], real), r"real_feats needs at least 4 rows for k=3 nearest"),
        (lambda: metrics.frechet_distance(real[:1], real), "feats_a needs at least 2 rows to estimate a covariance"),
        (lambda: metrics.nearest_neighbour_distances(real, real[:0]), r"reference is empty \(shape \(0, 4\)\)"),
        (lambda: metrics.mode_coverage(fake[:, :2], torch.zeros(2, 2), 0.1), "samples must hold finite numbers"),
        (lambda: metrics.mode_coverage(real[:, :2], torch.zeros(2, 2), float("nan")), "std must be a finite number > 0"),
        (lambda: metrics.frechet_distance_gaussians([0.0], [[float("inf")]], [0.0], [[1.0]]), "cov1 must hold finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match=r"real_feats must be an \(N, F\) array or tensor of numbers, got list"):
        metrics.precision_recall([["a", "b"]] * 5, real[:5, :2])


def test_likelihood_bounds_never_come_from_nan():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=4))
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    with pytest.raises(ValueError, match="data is empty"):
        metrics.negative_elbo(vae, x[:0])  # was a ZeroDivisionError
    with pytest.raises(ValueError, match=r"data values must lie in \[0, 1\]"):
        metrics.iwae_bound(vae, x * 255)
    assert metrics.negative_elbo(vae, x.double()) == metrics.negative_elbo(vae, x)
    with torch.no_grad():
        vae.dec[0].weight.fill_(float("nan"))  # as a diverged model's weights
    for bound in (metrics.negative_elbo, metrics.iwae_bound):
        with pytest.raises(ValueError, match=r"non-finite bound \(nan\).*did training diverge"):
            bound(vae, x)


def test_linear_probe_reads_a_linear_signal_and_not_noise():
    from genlearn.metrics import linear_probe

    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 3, 300), rng.integers(0, 3, 150)
    centres = np.eye(3) * 4
    informative = lambda y: centres[y] + rng.normal(size=(len(y), 3))  # noqa: E731
    good = linear_probe(informative(y_train), y_train, informative(y_test), y_test, per_class=10)
    noise = linear_probe(rng.normal(size=(300, 3)), y_train, rng.normal(size=(150, 3)), y_test, per_class=10)
    assert good["n_labels"] == 30 and good["accuracy"] > 0.9
    assert abs(noise["accuracy"] - 1 / 3) < 0.15
    again = linear_probe(informative(y_train), y_train, informative(y_test), y_test, per_class=10, seed=0)
    assert 0 <= again["std"] < 0.1
    with pytest.raises(ValueError, match="per_class=200"):
        linear_probe(informative(y_train), y_train, informative(y_test), y_test, per_class=200)
    with pytest.raises(ValueError, match="one label per example"):
        linear_probe(informative(y_train), y_train[:10], informative(y_test), y_test)


def test_sample_diversity_counts_copies_and_pixel_differences():
    from genlearn.metrics import sample_diversity

    varied = torch.eye(4).view(4, 1, 2, 2)                # four images, each pair differs in 2 pixels
    collapsed = torch.ones(4, 1, 2, 2)
    assert sample_diversity(varied) == {"distinct": 4, "mean_distance": 2.0, "n": 4}
    assert sample_diversity(collapsed)["distinct"] == 1 and sample_diversity(collapsed)["mean_distance"] == 0
    with pytest.raises(ValueError, match="at least 2"):
        sample_diversity(torch.ones(1, 4))


def test_pixel_entropy_is_zero_for_black_and_white_and_log2_for_grey():
    from genlearn.metrics import pixel_entropy
    crisp = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert pixel_entropy(crisp) < 1e-4
    assert pixel_entropy(torch.full((3, 4), 0.5)) == pytest.approx(np.log(2))
    assert pixel_entropy(torch.tensor([0.0, 0.5])) == pytest.approx(np.log(2) / 2, abs=1e-4)
    assert pixel_entropy(torch.full((2,), 0.9)) < pixel_entropy(torch.full((2,), 0.7))
    with pytest.raises(ValueError, match="no pixels"):
        pixel_entropy(torch.zeros(0))
