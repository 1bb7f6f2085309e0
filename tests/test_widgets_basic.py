import numpy as np
import pytest
import torch

from genlearn import get_device

from genlearn.widgets.basic import DeviceReport, MixtureDensity, SanityCheck, device_options, matmul_gflops


def test_sanity_check_redraws_when_a_control_changes():
    w = SanityCheck(dataset="ring", n=200)
    png, x = w.image.value, w.state["x"]
    assert png[:4] == b"\x89PNG" and x.shape == (200, 2)
    w.n.value = 1000
    assert w.state["n"] == 1000 and w.state["x"].shape == (1000, 2)
    assert w.image.value != png
    png = w.image.value
    w.dataset.value = "spiral"
    assert w.state["dataset"] == "spiral" and w.image.value != png
    bundle = w._repr_mimebundle_()
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle


def test_sanity_check_validates():
    with pytest.raises(ValueError, match="dataset"):
        SanityCheck(dataset="mnist")
    with pytest.raises(ValueError, match="between 10 and 5000"):
        SanityCheck(n=3)


def test_device_report_shows_the_chosen_device_and_more_sizes_when_asked():
    w = DeviceReport(max_size=64)
    assert w.state["device"] == str(get_device())
    assert device_options()[0] == (f"auto ({get_device()})", "auto")
    assert w.state["sizes"] == [32, 64] and all(g > 0 for g in w.state["gflops"])
    assert "device:" in w.status.value and "GENLEARN_DEVICE" in w.status.value
    png = w.image.value
    w.max_size.value = 256
    assert w.state["sizes"] == [32, 64, 128, 256] and w.image.value != png
    with pytest.raises(ValueError, match="max_size"):
        DeviceReport(max_size=100)


def test_matmul_gflops_is_positive():
    assert matmul_gflops(get_device(), 64, repeats=1) > 0


def test_mixture_density_more_components_fit_the_training_points_better():
    w = MixtureDensity(dataset="moons", n_components=1, n_samples=500)
    one = dict(w.state)
    png = w.image.value
    w.k.value = 8
    assert w.state["n_components"] == 8 and w.state["means"].shape == (8, 2)
    assert w.state["train_ll"] > one["train_ll"] + 0.3, "8 components should fit moons far better than 1"
    assert not np.allclose(w.state["log_density"], one["log_density"])
    assert w.image.value != png


def test_mixture_density_overfits_few_points():
    w = MixtureDensity(dataset="moons", n_components=12, n_samples=20)
    assert w.state["train_ll"] > w.state["test_ll"] + 1.0, "12 components on 20 points must overfit"
    png = w.image.value
    w.n.value = 5000
    assert w.state["n_samples"] == 5000
    assert w.state["train_ll"] - w.state["test_ll"] < 0.2, "with 5,000 points the gap should close"
    assert w.image.value != png


def test_the_2d_widgets_list_the_registrys_2d_datasets_and_hold_out_its_test_split():
    from genlearn.data import dataset_names, load

    w = MixtureDensity(dataset="ring", n_components=2, n_samples=50)
    assert tuple(w.dataset.options) == tuple(SanityCheck().dataset.options) == dataset_names("2d")
    gmm, train, test = w.fit()
    assert np.array_equal(train, load("ring", "train", n=50).x.numpy())
    assert np.array_equal(test, load("ring", "test", n=2000).x.numpy())   # seed + TEST_SEED_OFFSET
    assert not np.array_equal(test[:50], train)


def test_mixture_density_validates():
    with pytest.raises(ValueError, match="n_samples"):
        MixtureDensity(n_samples=123)
    with pytest.raises(ValueError, match="n_components"):
        MixtureDensity(n_components=30, max_components=20)
    with pytest.raises(ValueError, match="dataset"):
        MixtureDensity(dataset="digits")


def test_live_curves_redraw_from_a_training_callback():
    from genlearn.data import digits
    from genlearn.models import VAE
    from genlearn.train import train_vae
    from genlearn.widgets.basic import LiveCurves

    live = LiveCurves(["recon", "kl"], min_interval=0)
    assert live.state["points"] == {"recon": 0, "kl": 0}
    png = live.image.value
    torch.manual_seed(0)
    history = train_vae(VAE(hidden=(32,), latent_dim=2), digits("test"), epochs=2, batch_size=64,
                        log_every=2, callbacks=[live], progress=False)
    assert live.state["points"]["recon"] == len(history.series("recon")) > 2
    assert live.state["last"]["kl"] == pytest.approx(history.last("kl"))
    assert live.image.value != png
    assert live.finish() is live
    # every axis is labelled: without a ylabel, by the curves' names
    assert live.figure.axes[0].get_xlabel() == "step" and live.figure.axes[0].get_ylabel() == "recon, kl"
    assert LiveCurves(["loss"], ylabel="nats per image").figure.axes[0].get_ylabel() == "nats per image"
    with pytest.raises(ValueError, match="keys"):
        LiveCurves([])
    with pytest.raises(ValueError, match="min_interval"):
        LiveCurves("loss", min_interval=-1)


def test_fit_mixture_is_sklearns_gaussian_mixture():
    from sklearn.mixture import GaussianMixture

    from genlearn.data import toy2d
    from genlearn.widgets.basic import fit_mixture

    x = toy2d("moons", 300).x.numpy()
    gmm = fit_mixture(x, 4, seed=1)
    ref = GaussianMixture(4, reg_covar=1e-4, random_state=1).fit(x)
    assert isinstance(gmm, GaussianMixture) and gmm.n_components == 4
    assert gmm.score(x) == pytest.approx(ref.score(x), rel=1e-6)


def test_mixture_density_labels_every_axis():
    # lesson 01 c14: the fitted-density panel had no x1/x2 labels (the samples panel had them)
    w = MixtureDensity(dataset="moons", n_components=3, n_samples=200)
    for ax in w.figure.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel(), "the colour bar says what its colours mean"
        else:
            assert ax.get_xlabel() and ax.get_ylabel(), f"{ax.get_title()!r}: an axis without a label"
