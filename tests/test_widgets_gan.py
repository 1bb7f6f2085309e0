"""The GAN widgets: every control changes what is shown, and bad arguments say what was wrong."""

import numpy as np
import pytest
import torch

from genlearn.models import GAN, GANConfig
from genlearn.widgets.gan import (GanLatentExplorer, GanPlayground, GanTrainingMonitor,
                                  StepTrainer, slerp)
from genlearn.train import train_gan


def small_playground(**kw):
    return GanPlayground(hidden=(16, 16), latent_dim=4, batch_size=64, n_samples=200,
                         steps_per_click=10, **kw)


def image_gan(n_classes=0):
    torch.manual_seed(0)
    return GAN(GANConfig(x_shape=(1, 8, 8), arch="dcgan", latent_dim=4, base_channels=8,
                         n_classes=n_classes))


# ----------------------------------------------------------------------------- StepTrainer

def test_step_trainer_updates_both_networks_and_resumes():
    gan = GAN(GANConfig(x_shape=(2,), latent_dim=4, hidden=(16,)))
    x = torch.randn(500, 2)
    g0 = [p.clone() for p in gan.G.parameters()]
    d0 = [p.clone() for p in gan.D.parameters()]
    tr = StepTrainer(gan, x, lr_g=1e-3, lr_d=1e-3, batch_size=32)
    tr.step(3)
    assert tr.steps == 3 and [r["step"] for r in tr.log] == [1, 2, 3]
    assert any(not torch.equal(a, b) for a, b in zip(g0, gan.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, gan.D.parameters()))
    state = tr.opt_g.state_dict()["state"]
    tr.step(2)
    assert tr.steps == 5 and int(tr.opt_g.state_dict()["state"][0]["step"]) == 5, "optimizers must persist"
    assert state  # Adam kept its moments between calls
    tr.set_lr(5e-4, 2e-3)
    assert tr.opt_g.param_groups[0]["lr"] == 5e-4 and tr.opt_d.param_groups[0]["lr"] == 2e-3


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge", "minimax"])
def test_step_trainer_other_losses_and_r1_are_finite(loss):
    gan = GAN(GANConfig(x_shape=(2,), latent_dim=4, hidden=(16,), loss=loss))
    tr = StepTrainer(gan, torch.randn(200, 2), batch_size=32, r1_gamma=1.0)
    tr.step(2)
    assert all(np.isfinite([r["loss_d"], r["loss_g"]]).all() for r in tr.log)


def test_step_trainer_validates():
    gan = GAN(GANConfig(x_shape=(2,), latent_dim=4, hidden=(16,)))
    with pytest.raises(ValueError, match="lr_g"):
        StepTrainer(gan, torch.randn(10, 2), lr_g=0)
    with pytest.raises(ValueError, match="r1_gamma"):
        StepTrainer(gan, torch.randn(10, 2), r1_gamma=-1)
    with pytest.raises(ValueError, match="loss"):
        StepTrainer(gan, torch.randn(10, 2), loss="lsgan")


# ----------------------------------------------------------------------------- playground

def test_playground_training_changes_picture_samples_and_surface():
    pg = small_playground()
    png, samples, surface = pg.image.value, pg.state["samples"].copy(), pg.state["d_surface"].copy()
    assert pg.state["step"] == 0 and "press Train" not in pg.status.value
    pg.train_button.click()                     # what a browser click does
    assert pg.state["step"] == 10
    assert pg.image.value != png
    assert not np.allclose(pg.state["samples"], samples), "G did not move"
    assert not np.allclose(pg.state["d_surface"], surface), "D's surface did not change"
    pg.train(5)
    assert pg.state["step"] == 15 and [h["step"] for h in pg.history] == [0, 10, 15]
    assert "modes covered" in pg.status.value
    assert 0 <= pg.state["modes_covered"] <= pg.state["modes_total"] == 8


def test_playground_learning_rates_and_r1_apply_live_without_reset():
    pg = small_playground()
    pg.train(10)
    png = pg.image.value
    pg.lr_g.value = 1e-3
    assert pg.trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert pg.state["lr_g"] == pytest.approx(1e-3) and pg.state["step"] == 10, "lr must not reset training"
    assert pg.image.value != png
    png = pg.image.value
    pg.lr_d.value = 1e-3
    assert pg.trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3) and pg.image.value != png
    pg.r1.value = 1.0
    assert pg.trainer.r1_gamma == 1.0 and pg.state["r1_gamma"] == 1.0
    png = pg.image.value
    pg.steps.value = 50
    assert pg.state["steps_per_click"] == 50 and pg.image.value != png
    pg.train_button.click()
    assert pg.state["step"] == 60


def test_playground_loss_and_data_start_a_fresh_gan():
    pg = small_playground()
    pg.train(10)
    png = pg.image.value
    pg.loss.value = "wgan-gp"
    assert pg.state["loss"] == "wgan-gp" and pg.gan.config.loss == "wgan-gp"
    assert pg.state["step"] == 0 and pg.trainer.loss == "wgan-gp"
    assert pg.image.value != png
    pg.train(3)
    assert pg.state["step"] == 3
    pg.data.value = "grid"
    assert pg.state["data"] == "grid" and pg.state["modes_total"] == 25 and pg.state["step"] == 0
    pg.train(3)
    pg.reset_button.click()
    assert pg.state["step"] == 0 and pg.trainer.log == []


def test_playground_seed_changes_the_initial_gan():
    pg = small_playground()
    samples = pg.state["samples"].copy()
    pg.seed.value = 1
    assert not np.allclose(pg.state["samples"], samples)


@pytest.mark.parametrize("kw, match", [
    (dict(data="moons"), "data"), (dict(loss="lsgan"), "loss"), (dict(lr_g=0.0), "lr_g"),
    (dict(lr_d=2.0), "lr_d"), (dict(r1_gamma=0.5), "r1_gamma"), (dict(steps_per_click=0), "steps_per_click"),
    (dict(steps_per_click=5000), "steps_per_click"), (dict(n_samples=0), "n_samples"),
])
def test_playground_validates_arguments(kw, match):
    base = dict(hidden=(8,), latent_dim=2, n_samples=50)
    with pytest.raises(ValueError, match=match):
        GanPlayground(**{**base, **kw})


def test_playground_display_bundle_has_static_png():
    pg = small_playground()
    bundle = pg._repr_mimebundle_()
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle


# ----------------------------------------------------------------------------- monitor

def test_monitor_snapshots_during_training_and_slider_scrubs():
    gan = image_gan()
    data = torch.rand(64, 1, 8, 8)
    mon = GanTrainingMonitor(gan, n=8)
    first = mon.image.value
    assert mon.state["n_snapshots"] == 1 and mon.state["step"] == 0
    train_gan(gan, data, steps=4, batch_size=16, log_every=2, progress=False, callbacks=[mon.callback])
    assert [s["step"] for s in mon.snapshots] == [0, 2, 4]
    assert mon.snapshot.max == 2 and mon.state["step"] == 4, "the newest snapshot is shown live"
    assert mon.image.value != first
    last_images, last_png = mon.state["images"].copy(), mon.image.value
    mon.snapshot.value = 0
    assert mon.state["step"] == 0 and mon.image.value != last_png
    assert not np.allclose(mon.state["images"], last_images)


def test_monitor_every_and_validation():
    gan = image_gan()
    mon = GanTrainingMonitor(gan, n=4, every=2)
    train_gan(gan, torch.rand(32, 1, 8, 8), steps=4, batch_size=8, log_every=1, progress=False,
              callbacks=[mon.callback])
    assert [s["step"] for s in mon.snapshots] == [0, 2, 4]
    with pytest.raises(ValueError, match="images"):
        GanTrainingMonitor(GAN(GANConfig(x_shape=(2,), hidden=(8,))))
    with pytest.raises(ValueError, match="every"):
        GanTrainingMonitor(gan, every=0)


# ----------------------------------------------------------------------------- latent explorer

def test_slerp_ends_and_norm():
    z0, z1 = torch.randn(16), torch.randn(16)
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert torch.allclose(slerp(z0, z0, torch.tensor([0.3]))[0], z0, atol=1e-5)


def test_latent_explorer_controls_change_the_images():
    ex = GanLatentExplorer(image_gan(), n_steps=4, n_grid=6)
    strip, grid, png = ex.state["strip"].copy(), ex.state["grid"].copy(), ex.image.value
    assert strip.shape == (4, 1, 8, 8) and grid.shape == (6, 1, 8, 8)
    ex.seed_b.value = 7
    assert ex.state["seed_b"] == 7 and not np.allclose(ex.state["strip"][-1], strip[-1])
    assert np.allclose(ex.state["strip"][0], strip[0]), "the path still starts at z_a"
    assert ex.image.value != png
    strip = ex.state["strip"].copy()
    ex.path.value = "linear"
    assert not np.allclose(ex.state["strip"][1:-1], strip[1:-1]) and np.allclose(ex.state["strip"][0], strip[0])
    d_full = ex.state["diversity"]
    ex.truncation.value = 0.1
    assert not np.allclose(ex.state["grid"], grid)
    assert ex.state["diversity"] < d_full, "truncation must reduce the samples' variety"


def test_latent_explorer_class_control_for_conditional_gans():
    ex = GanLatentExplorer(image_gan(n_classes=3), n_steps=3, n_grid=4, label=1)
    grid, png = ex.state["grid"].copy(), ex.image.value
    assert ex.state["label"] == 1
    ex.label.value = 2
    assert ex.state["label"] == 2 and not np.allclose(ex.state["grid"], grid) and ex.image.value != png


@pytest.mark.parametrize("kw, match", [
    (dict(n_steps=1), "n_steps"), (dict(n_grid=0), "n_grid"), (dict(truncation=5.0), "truncation"),
    (dict(path="zigzag"), "path"), (dict(label=2), "conditional"),
])
def test_latent_explorer_validates(kw, match):
    with pytest.raises(ValueError, match=match):
        GanLatentExplorer(image_gan(), **kw)
    with pytest.raises(ValueError, match="label"):
        GanLatentExplorer(image_gan(n_classes=3), label=3)
    with pytest.raises(ValueError, match="images"):
        GanLatentExplorer(GAN(GANConfig(x_shape=(2,), hidden=(8,))))
