import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from genlearn.ethics import (detector_accuracy, membership_attack, memorization_report, roc_curve,
                             train_detector, vae_membership_scores)
from genlearn.models import VAE
from genlearn.train import train_vae


def test_detector_catches_obvious_fakes_and_is_at_chance_on_identical_sources():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(600, 2, generator=gen)
    obvious = torch.randn(600, 2, generator=gen) + 3.0
    same = torch.randn(600, 2, generator=gen)
    assert detector_accuracy(real, obvious, steps=200)["accuracy"] > 0.95
    chance = detector_accuracy(real, same, steps=200)
    assert 0.4 < chance["accuracy"] < 0.6
    assert chance["n_test"] == 2 * 180 and chance["n_train"] == 2 * 420


def test_detector_sees_a_nonlinear_difference():
    gen = torch.Generator().manual_seed(1)
    angle = 2 * np.pi * torch.rand(800, generator=gen)
    ring = torch.stack([angle.cos(), angle.sin()], 1) * 2
    blob = torch.randn(800, 2, generator=gen)  # same mean, different shape
    assert detector_accuracy(ring, blob, steps=400)["accuracy"] > 0.85


def test_detector_checks_inputs():
    with pytest.raises(ValueError, match="features"):
        detector_accuracy(torch.zeros(20, 2), torch.zeros(20, 3))
    with pytest.raises(ValueError, match="at least 10"):
        detector_accuracy(torch.zeros(5, 2), torch.zeros(20, 2))
    with pytest.raises(ValueError, match="test_fraction"):
        detector_accuracy(torch.zeros(20, 2), torch.zeros(20, 2), test_fraction=1.0)


def test_a_trained_detector_is_scored_on_a_generator_it_never_saw():
    gen = torch.Generator().manual_seed(2)
    real = torch.randn(600, 2, generator=gen)
    shifted = torch.randn(600, 2, generator=gen) + torch.tensor([3.0, 0.0])   # the generator it sees
    unseen = torch.randn(600, 2, generator=gen) + torch.tensor([0.0, 3.0])    # fakes off in another direction
    detector = train_detector(real[:400], shifted[:400], steps=200)
    seen = detector.accuracy(real[400:], shifted[400:])
    assert seen["accuracy"] > 0.88 and seen["fakes_caught"] > 0.88   # the best possible: Phi(1.5) = 0.93
    other = detector.accuracy(real[400:], unseen[400:])
    assert other["fakes_caught"] < 0.3, f"a shift it never saw should mostly pass as real: {other}"
    assert other["real_kept"] == seen["real_kept"] and other["accuracy"] == pytest.approx(
        (other["real_kept"] + other["fakes_caught"]) / 2)
    assert detector.logits(real[:5]).shape == (5,)
    both = train_detector(real[:400], torch.cat([shifted[:200], unseen[:200]]), steps=200)
    assert both.accuracy(real[400:], unseen[400:])["fakes_caught"] > 0.85
    with pytest.raises(ValueError, match="2 features"):
        detector.logits(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="at least 10"):
        train_detector(real[:5], shifted[:20])


def test_membership_attack_statistics():
    perfect = membership_attack([1, 2, 3], [4, 5, 6])
    assert perfect["auc"] == 1.0 and perfect["accuracy"] == 1.0 and perfect["tpr_at_1pct_fpr"] == 1.0
    assert membership_attack([1, 2, 3], [1, 2, 3])["auc"] == pytest.approx(0.5)
    assert membership_attack([4, 5, 6], [1, 2, 3])["auc"] == 0.0
    fpr, tpr, _ = roc_curve([1, 3], [2, 4])
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    with pytest.raises(ValueError, match="finite"):
        membership_attack([np.nan], [1.0])
    with pytest.raises(ValueError, match="at least one"):
        membership_attack([], [1.0])


def test_an_overfitted_vae_leaks_membership():
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(80, 1, 4, 4, generator=gen) < 0.5).float()  # random bits: nothing to generalize
    members, others = x[:40], x[40:]
    torch.manual_seed(0)
    model = VAE(x_shape=(1, 4, 4), latent_dim=4, hidden=(64,))
    train_vae(model, members, epochs=300, batch_size=20, lr=3e-3, progress=False)
    s_in = vae_membership_scores(model, members, n_samples=4)
    s_out = vae_membership_scores(model, others, n_samples=4)
    assert s_in.shape == (40,) and torch.isfinite(s_in).all()
    assert membership_attack(s_in, s_out)["auc"] > 0.8
    assert torch.allclose(s_in, vae_membership_scores(model, members, n_samples=4)), "seeded"


def test_membership_scores_of_a_conditional_vae_use_the_labels():
    y = torch.arange(60) % 2
    x = torch.zeros(60, 1, 4, 4)
    x[y == 0, :, :2] = 1.0                                        # class 0: top half on
    x[y == 1, :, 2:] = 1.0                                        # class 1: bottom half on
    torch.manual_seed(0)
    model = VAE(x_shape=(1, 4, 4), latent_dim=2, hidden=(32,), n_classes=2)
    train_vae(model, TensorDataset(x, y), epochs=60, batch_size=20, lr=1e-2, progress=False)
    right, wrong = vae_membership_scores(model, x, y, n_samples=2), vae_membership_scores(model, x, 1 - y, n_samples=2)
    assert right.shape == (60,) and right.mean() < wrong.mean() - 1, \
        f"the true labels should make the examples likelier: -ELBO {right.mean():.2f} vs {wrong.mean():.2f}"


def test_memorization_report_flags_copies():
    gen = torch.Generator().manual_seed(0)
    train, test = torch.rand(200, 16, generator=gen), torch.rand(200, 16, generator=gen)
    copies = memorization_report(train[:50], train, test)
    assert copies["copy_fraction"] == 1.0 and copies["median_d_train"] == 0.0
    fresh = memorization_report(torch.rand(50, 16, generator=gen), train, test)
    assert fresh["copy_fraction"] < 0.2 and 0.7 < fresh["median_ratio"] < 1.3
    assert fresh["d_train"].shape == (50,)
    with pytest.raises(ValueError, match="copy_ratio"):
        memorization_report(train, train, test, copy_ratio=0)
