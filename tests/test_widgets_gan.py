"""The GAN widgets: every control changes what is shown, and bad arguments say what was wrong."""

import base64

import numpy as np
import pytest
import torch

from genlearn.models import GAN, GANConfig
from genlearn.train import GanStepper, train_gan
from genlearn.widgets.gan import GanLatentExplorer, GanPlayground, GanTrainingMonitor


def small_playground(**kw):
    return GanPlayground(hidden=(16, 16), latent_dim=4, batch_size=64, n_samples=200,
                         steps_per_click=10, **kw)


def image_gan(n_classes=0):
    torch.manual_seed(0)
    return GAN(GANConfig(x_shape=(1, 8, 8), arch="dcgan", latent_dim=4, base_channels=8,
                         n_classes=n_classes))


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


@pytest.mark.slow
def test_playground_learning_rates_and_r1_apply_live_without_reset():
    pg = small_playground()
    pg.train(10)
    png = pg.image.value
    pg.lr_g.value = 1e-3
    assert pg.stepper.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert pg.state["lr_g"] == pytest.approx(1e-3) and pg.state["step"] == 10, "lr must not reset training"
    assert pg.image.value != png
    png = pg.image.value
    pg.lr_d.value = 1e-3
    assert pg.stepper.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3) and pg.image.value != png
    pg.r1.value = 1.0
    assert pg.stepper.r1_gamma == 1.0 and pg.state["r1_gamma"] == 1.0
    png = pg.image.value
    pg.steps.value = 50
    assert pg.state["steps_per_click"] == 50 and pg.image.value != png
    pg.train_button.click()
    assert pg.state["step"] == 60


@pytest.mark.slow
def test_playground_loss_and_data_start_a_fresh_gan():
    pg = small_playground()
    pg.train(10)
    png = pg.image.value
    pg.loss.value = "wgan-gp"
    assert pg.state["loss"] == "wgan-gp" and pg.gan.config.loss == "wgan-gp"
    assert pg.state["step"] == 0 and isinstance(pg.stepper, GanStepper) and pg.stepper.steps == 0
    assert pg.image.value != png
    pg.train(3)
    assert pg.state["step"] == 3
    pg.data.value = "grid"
    assert pg.state["data"] == "grid" and pg.state["modes_total"] == 25 and pg.state["step"] == 0
    pg.train(3)
    pg.reset_button.click()
    assert pg.state["step"] == 0 and pg.log == []


def test_playground_trains_with_the_gan_stepper():
    """What the playground shows is what train_gan trains: its clicks are GanStepper updates."""
    pg = small_playground(seed=2)
    pg.train(10)
    with torch.random.fork_rng():
        torch.manual_seed(2)
        gan = GAN(GANConfig(x_shape=(2,), latent_dim=4, hidden=(16, 16)))
    stepper = GanStepper(gan, pg.dataset.x, lr_g=1e-4, lr_d=2e-4, batch_size=64, seed=2,
                         generator=torch.Generator().manual_seed(2))
    for _ in range(10):
        stepper.step()
    for a, b in zip(pg.gan.parameters(), gan.parameters()):
        assert torch.equal(a, b)
    assert [r["step"] for r in pg.log] == list(range(1, 11))


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


def test_playground_legend_names_every_line_of_the_loss_panel():
    # lesson 05's playground drew the modes-covered curve (dashed, on a twin axis) without an entry
    pg = small_playground()
    pg.train_button.click()
    legends = [ax.get_legend() for ax in pg.figure.axes if ax.get_legend() is not None] + pg.figure.legends
    entries = [t.get_text() for leg in legends for t in leg.get_texts()]
    assert {"loss_d", "loss_g", "modes covered (right axis)"} <= set(entries), entries
    assert all(t.get_fontsize() >= 8 for leg in legends for t in leg.get_texts())


def assert_legends_clear(fig):
    """No legend lies on a tick label, an axis label or anything a panel plots."""
    from test_plot import drawn_texts
    from genlearn.plot import covers_data
    fig.draw_without_rendering()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for leg in legends:
        box = leg.get_window_extent()
        for ax in fig.axes:
            for text in drawn_texts(ax.xaxis) + drawn_texts(ax.yaxis):
                if text.get_text().strip():
                    assert not text.get_window_extent().overlaps(box), f"the legend hides {text.get_text()!r}"
            if ax.get_label() != "<colorbar>":
                assert not covers_data(ax, leg) or not ax.get_window_extent().overlaps(box), \
                    f"the legend covers what {ax.get_title()!r} plots"


def test_playground_figure_is_labelled_readable_and_its_legend_hides_nothing():
    # lessons 05 c20 and 07 c16: the middle legend covered the mode centre at (0, -2), the right
    # one lay on the twin axis's tick labels, and the D(x) panel and its colour bar had no labels
    from test_plot import assert_readable_as_displayed
    for loss in ("nonsaturating", "wgan-gp"):
        pg = small_playground(loss=loss)
        pg.train(20)
        fig = pg.figure
        assert_readable_as_displayed(fig, loss)
        assert_legends_clear(fig)
        panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        for ax in panels:
            twin = any(o is not ax and o.get_position().bounds == ax.get_position().bounds for o in panels[:3])
            assert ax.get_ylabel() and (twin or ax.get_xlabel()), f"{ax.get_title()!r}: an axis without a label"
        colourbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(colourbars) == 1 and colourbars[0].get_ylabel(), "the colour bar says what its colours mean"
        assert "high quality" in panels[1].get_title() and "good" not in panels[1].get_title()


# ----------------------------------------------------------------------------- monitor


def test_monitor_colours_its_losses_as_the_playground_does_within_the_maximum_width():
    # lesson 06 c7 drew loss_d / loss_g in matplotlib's default blue / orange, lesson 05 in
    # genlearn's palette the other way round (and orange is the playground's samples)
    from test_plot import assert_readable_as_displayed
    from matplotlib.colors import to_hex
    mon = GanTrainingMonitor(image_gan(), n=32)
    for step in (10, 20):
        mon.take_snapshot({"step": step, "loss_d": 1.0 / step, "loss_g": 2.0 / step})
    mon.refresh()
    assert_readable_as_displayed(mon.figure, "monitor")
    pg = small_playground()
    pg.train(10)
    colours = lambda fig: {ln.get_label(): to_hex(ln.get_color()) for ax in fig.axes for ln in ax.lines  # noqa: E731
                           if ln.get_label() in ("loss_d", "loss_g")}
    assert colours(mon.figure) == colours(pg.figure) and len(colours(pg.figure)) == 2
    samples = [c for c in pg.figure.axes[1].collections if c.get_label() == "samples"][0]
    assert to_hex(samples.get_facecolor()[0]) not in colours(pg.figure).values(), "orange means samples"

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


def test_monitor_leaves_its_last_snapshot_as_the_saved_static_picture(monkeypatch):
    """A notebook saved after training (the course site, a download) keeps the display's
    image/png: shown with show(), the monitor replaces it at every snapshot, so the saved
    picture is the last step's, not the untrained start's."""
    import IPython.display

    class Handle:   # what display(..., display_id=True) returns, recording what a kernel would send
        def __init__(self, obj):
            self.bundles = [obj._repr_mimebundle_()]

        def update(self, obj):
            self.bundles.append(obj._repr_mimebundle_())

    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=None: Handle(obj))
    gan = image_gan()
    mon = GanTrainingMonitor(gan, n=8).show()
    start = mon._handle.bundles[0]["image/png"]
    train_gan(gan, torch.rand(64, 1, 8, 8), steps=4, batch_size=16, log_every=2, progress=False,
              callbacks=[mon.callback])
    saved = mon._handle.bundles[-1]
    assert mon.state["step"] == 4 and saved["image/png"] != start
    assert base64.b64decode(saved["image/png"]) == mon.image.value, "the saved picture is the final one"
    assert "application/vnd.jupyter.widget-view+json" in saved, "the live widget stays in the bundle"


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
