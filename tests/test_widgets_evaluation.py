import numpy as np
import pytest
import torch

from genlearn.data import digits, toy2d
from genlearn.widgets.evaluation import MembershipThreshold, ModelComparison


@pytest.fixture(scope="module")
def digit_sets():
    return digits("train").x, digits("test").x


def test_model_comparison_switches_samples_and_metrics(digit_sets):
    train, test = digit_sets
    noise = (torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    w = ModelComparison({"copies of training data": train[:300], "noise": noise}, test, train=train,
                        n=300, extra={"noise": {"note": 1.0}})
    first, png = dict(w.state), w.image.value
    assert first["name"] == "copies of training data" and first["n_samples"] == 300
    assert first["metrics"]["nn_train_over_test"] == 0.0, "copies sit on training images"
    w.choice.value = "noise"
    assert w.state["name"] == "noise" and w.image.value != png
    m = w.state["metrics"]
    assert m["frechet_distance"] > 3 * first["metrics"]["frechet_distance"]
    assert m["precision"] < first["metrics"]["precision"] and m["note"] == 1.0
    assert w.state["sample_mean"] != first["sample_mean"]
    bundle = w._repr_mimebundle_()
    assert "image/png" in bundle


def test_model_comparison_accepts_models_and_functions_on_2d_data():
    ring = toy2d("ring", 2000, seed=1)
    centers = ring.centers
    one_mode = lambda n: centers[0] + 0.02 * torch.randn(n, 2)  # noqa: E731
    w = ModelComparison({"data": toy2d("ring", 500, seed=2).x, "one mode": one_mode}, ring.x,
                        feature_space=None, centers=centers, std=ring.std, n=500)
    assert w.state["metrics"]["modes_covered"] == 8
    w.choice.value = "one mode"
    assert w.state["metrics"]["modes_covered"] == 1 and w.state["metrics"]["recall"] < 0.3


def test_model_comparison_validates(digit_sets):
    train, test = digit_sets
    with pytest.raises(ValueError, match="non-empty"):
        ModelComparison({}, test)
    with pytest.raises(ValueError, match="feature_space"):
        ModelComparison({"a": train}, test, feature_space="faces")
    with pytest.raises(ValueError, match="2D points"):
        ModelComparison({"a": train}, test, feature_space=None)
    with pytest.raises(ValueError, match="centers and std"):
        ModelComparison({"a": train}, test, centers=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="not candidates"):
        ModelComparison({"a": train}, test, extra={"b": {}})
    with pytest.raises(ValueError, match="shape"):
        ModelComparison({"a": torch.zeros(50, 1, 4, 4)}, test, n=50)
    with pytest.raises(TypeError, match="candidate"):
        ModelComparison({"a": "not samples"}, test, n=50)


def test_membership_threshold_moves_the_accusations():
    rng = np.random.default_rng(0)
    members, others = rng.normal(10, 2, 200), rng.normal(14, 2, 200)
    w = MembershipThreshold(members, others)
    assert 0.8 < w.state["accuracy"] <= 1.0, "starts at the best threshold"
    png = w.image.value
    w.slider.value = w.slider.min
    assert w.state["tpr"] <= 0.01 and w.state["fpr"] == 0.0 and w.image.value != png
    w.slider.value = w.slider.max
    assert w.state["tpr"] == 1.0 and w.state["fpr"] == 1.0
    assert w.figure.axes[0].get_xlabel().startswith("score (-ELBO, nats)")
    exact = MembershipThreshold(members, others, score_name="-log p, nats")
    assert exact.figure.axes[0].get_xlabel().startswith("score (-log p, nats)"), "an exact likelihood is not an ELBO"
    with pytest.raises(ValueError, match="at least 2"):
        MembershipThreshold([1.0], [2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        MembershipThreshold([1.0, np.inf], [2.0, 3.0])
    with pytest.raises(ValueError, match="bins"):
        MembershipThreshold([1.0, 2.0], [2.0, 3.0], bins=1)


def test_evaluation_figures_are_readable_as_displayed(digit_sets):
    # lesson 08 c13: samples beside six lines of 9 pt text made a 1527 px wide figure that a
    # notebook showed scaled down; lesson 14: the threshold figure cut its title and x label off
    # at the right and its overlapping translucent histograms mixed a colour no legend entry had
    from matplotlib.patches import Polygon
    from test_plot import assert_readable_as_displayed
    train, test = digit_sets
    w = ModelComparison({"copies": train[:60]}, test[:100], train=train[:200], n=60, extra={"copies": {"test -ELBO": 50.0}})
    assert_readable_as_displayed(w.figure, "ModelComparison")
    shown = "\n".join(t.get_text() for ax in w.figure.axes for t in ax.texts)
    assert "precision" in shown and "test -ELBO: 50" in shown, "the metrics are in the picture, under the samples"
    rng = np.random.default_rng(0)
    m = MembershipThreshold(rng.normal(10, 2, 200), rng.normal(14, 2, 200), score_name="exact -log p, nats")
    assert_readable_as_displayed(m.figure, "MembershipThreshold")
    assert "AUC" in m.figure.axes[0].get_title()
    hists = [p for p in m.figure.axes[0].patches if isinstance(p, Polygon)]
    assert len(hists) == 2 and all(not p.get_fill() for p in hists), "outlines: no mixed colours"
