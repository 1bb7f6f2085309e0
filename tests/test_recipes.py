"""genlearn.recipes: the tested defaults, read from the model-kind and dataset registries."""

import numpy as np
import pytest
import torch

from genlearn import recipes
from genlearn.data import DATASETS, dataset_names
from genlearn.models import GAN, MODEL_KINDS, VAE
from genlearn.train import train_gan, train_vae

_RING = {"model": {}, "train": {"steps": 1}}


def test_recipes_name_registered_kinds_and_datasets_and_build_their_models():
    assert recipes.kinds() == ("vae", "gan")
    assert recipes.RECIPES["vae"].train is train_vae and recipes.RECIPES["gan"].train is train_gan
    for kind in recipes.kinds():
        assert kind in MODEL_KINDS
        names = recipes.dataset_names(kind)
        assert set(names) == set(recipes.RECIPES[kind].by_data) and set(names) <= set(DATASETS)
        for name in names:
            settings = recipes.recipe(kind, name)
            assert set(settings) == {"model", "train", "data"}
            model = recipes.build(kind, name)
            assert isinstance(model, MODEL_KINDS[kind].model)
            assert recipes.RECIPES[kind].budget in settings["train"], f"{kind}/{name} has no length"
    # every registered 2D dataset (read from the registry) has both recipes; images only where written down
    with_recipes = set(dataset_names("2d")) | {"digits", "sprites"}
    assert recipes.dataset_names() == tuple(n for n in dataset_names() if n in with_recipes)  # registry order
    assert recipes.dataset_names("vae") == recipes.dataset_names("gan") == recipes.dataset_names()


@pytest.mark.slow
@pytest.mark.parametrize("name", dataset_names("2d"))
def test_every_2d_dataset_trains_with_both_recipes(name):
    """The 2D recipes every 2D dataset gets: a few steps of each train, stay finite and are evaluated."""
    gan = recipes.fit("gan", name, steps=20, progress=False, n_eval=200)
    assert gan.metrics["stopped"] == "finished" and gan.samples.shape == (200, 2)
    assert torch.isfinite(gan.samples).all() and len(gan.history.series("loss_d")) > 0 and np.isfinite(gan.history.series("loss_d")).all()
    vae = recipes.fit("vae", name, epochs=1, progress=False, n_eval=200)
    assert vae.metrics["stopped"] == "finished" and vae.samples.shape == (200, 2)
    assert 0 < vae.metrics["test_iwae_nats"] <= vae.metrics["test_nelbo_nats"] + 0.5


@pytest.mark.parametrize("by_data, error, message", [
    ({"mnist": _RING}, ValueError, r"unknown dataset of a recipe \(register it in genlearn/data/registry.py first\) 'mnist'"),
    ({"ring": {"model": {}}}, ValueError, r"the recipe for 'ring' needs dicts 'model' and 'train'.*missing: \['train'\]"),
    ({"ring": {**_RING, "steps": 3}}, ValueError, r"unknown: \['steps'\]"),
    ({"ring": {"model": {}, "train": {"epochs": 3}}}, ValueError, "must say how long it trains: 'train' has no 'steps'"),
    ({"ring": None}, TypeError, "the recipe for 'ring' must be a dict"),
])
def test_an_incomplete_recipe_is_refused_with_what_is_missing(by_data, error, message):
    with pytest.raises(error, match=message):
        recipes.KindRecipes(train_gan, "steps", by_data)


def test_recipe_is_a_copy_and_unknown_names_are_clear():
    settings = recipes.recipe("gan", "ring")
    settings["train"]["steps"] = 1
    assert recipes.recipe("gan", "ring")["train"]["steps"] == 1500
    with pytest.raises(ValueError, match="unknown model kind 'flow'"):
        recipes.recipe("flow", "ring")
    with pytest.raises(ValueError, match="unknown dataset for a GAN recipe 'patterns'"):
        recipes.recipe("gan", "patterns")


def test_load_data_applies_the_recipes_data_options():
    dcgan_digits = recipes.load_data("gan", "digits")
    vae_digits = recipes.load_data("vae", "digits")
    assert dcgan_digits.shape == (1, 16, 16) and not dcgan_digits.binarized
    assert vae_digits.shape == (1, 8, 8) and vae_digits.binarized
    train, test = recipes.load_data("gan", "ring"), recipes.load_data("gan", "ring", "test")
    assert not torch.equal(train.x[:100], test.x[:100])


def test_build_is_seeded_overridable_and_leaves_the_global_stream_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = recipes.build("gan", "ring", seed=4), recipes.build("gan", "ring", seed=4)
    assert torch.rand(1) == before, "building a model must not consume the caller's random stream"
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = recipes.build("gan", "ring", seed=5, hidden=(32,))
    assert c.config.hidden == (32,) and c.config.latent_dim == 2


def test_fit_trains_and_evaluates_a_gan_on_a_mixture():
    result = recipes.fit("gan", "ring", steps=30, progress=False, n_eval=400)
    m = result.metrics
    assert isinstance(result.model, GAN) and m["steps"] == 30 and m["stopped"] == "finished"
    assert m["modes_total"] == 8 and 0 <= m["modes_covered"] <= 8 and 0 <= m["high_quality_fraction"] <= 1
    assert result.samples.shape == (400, 2) and m["device"] == "cpu"
    assert result.history.steps == 30


def test_fit_trains_a_vae_with_its_prepare_step_and_image_metrics():
    result = recipes.fit("vae", "digits", epochs=1, progress=False, n_eval=100)
    m = result.metrics
    assert isinstance(result.model, VAE) and m["steps"] == 1437 // 64
    assert 0 < m["test_iwae_nats"] <= m["test_nelbo_nats"] + 0.5
    assert {"frechet_distance", "precision", "recall"} <= set(m)
    out_bias = result.model.dec[-1].bias
    assert out_bias.abs().max() > 1, "the decoder must start at the mean image (recipe's prepare)"


def test_fit_names_each_kinds_budget():
    with pytest.raises(ValueError, match="--steps applies to GANs; VAEs train for --epochs"):
        recipes.fit("vae", "digits", steps=5)
    with pytest.raises(ValueError, match="--epochs applies to VAEs; GANs train for --steps"):
        recipes.fit("gan", "ring", epochs=5)
    with pytest.raises(ValueError, match="n_eval"):
        recipes.fit("gan", "ring", steps=1, n_eval=0)


def test_evaluate_a_conditional_model_samples_every_class():
    torch.manual_seed(0)
    cvae = VAE(latent_dim=2, hidden=(16,), n_classes=10)
    scores, samples = recipes.evaluate(cvae, recipes.load_data("vae", "digits", "test"), n_eval=50)
    assert samples.shape == (50, 1, 8, 8) and "test_nelbo_nats" in scores and "precision" in scores
