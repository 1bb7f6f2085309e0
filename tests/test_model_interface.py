"""The interface every registered model kind keeps (CONTRIBUTING.md, "Add a model kind"),
checked over the whole registry: a kind added to ``MODEL_KINDS`` is covered here without
touching this file, and a kind that breaks the interface fails."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import pkgutil

import pytest
import torch

from genlearn.checkpoints import load_checkpoint, save_checkpoint
from genlearn.models import MODEL_KINDS, kind_of
from genlearn.train import require, train_vae

KINDS = sorted(MODEL_KINDS)


def example(name: str, **overrides):
    """A model of kind ``name`` from its default config, and a batch of 6 examples it takes,
    seeded; a kind that standardizes itself has seen the batch."""
    kind = MODEL_KINDS[name]
    torch.manual_seed(0)
    model = kind.model(kind.config(**overrides))
    x = torch.rand(6, *model.config.x_shape, generator=torch.Generator().manual_seed(1))
    if hasattr(model, "fit_normalization"):
        model.fit_normalization(x)
    return model, x


def takes_labels(config_cls) -> bool:
    return "n_classes" in {f.name for f in dataclasses.fields(config_cls)}


def test_every_model_config_in_the_package_belongs_to_a_registered_kind():
    """A kind left out of the registry would be left out of every check here: each
    ``...Config`` dataclass in ``genlearn/models/`` must be the config of a registered kind."""
    import genlearn.models as package

    registered = {kind.config for kind in MODEL_KINDS.values()}
    configs = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        configs |= {obj for name, obj in vars(module).items()
                    if name.endswith("Config") and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__}
    assert len(configs) >= 6
    missing = sorted(c.__name__ for c in configs - registered)
    assert not missing, (f"{', '.join(missing)} in genlearn/models/ belong(s) to no kind in MODEL_KINDS: register "
                         f"the kind in genlearn/models/__init__.py (CONTRIBUTING.md, 'Add a model kind', step 2)")


def test_the_registry_names_each_kind_once_by_its_class():
    assert len(KINDS) >= 6
    assert len({kind.model for kind in MODEL_KINDS.values()}) == len(KINDS)
    for name, kind in MODEL_KINDS.items():
        assert kind.name == name and dataclasses.is_dataclass(kind.config), name


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_builds_from_its_config_on_the_meta_device(name):
    kind = MODEL_KINDS[name]
    with torch.device("meta"):
        model = kind.model(kind.config())
    assert all(p.is_meta for p in model.parameters()), f"{name}: a parameter was not built on the meta device"
    assert isinstance(model.config.x_shape, tuple) and all(isinstance(d, int) for d in model.config.x_shape), \
        f"{name}: config.x_shape must be a tuple of ints (the shape of one example)"
    assert kind_of(model) == name and model.device.type == "meta"


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_has_the_same_verbs_with_the_same_signatures(name):
    model, _ = example(name)
    loss = inspect.signature(model.loss).parameters
    assert list(loss)[:2] == ["x", "y"] and loss["y"].default is None, f"{name}: loss(x, y=None, ...)"
    assert all(p.kind is p.KEYWORD_ONLY for p in list(loss.values())[2:]), f"{name}: loss's options are keyword-only"
    sample = inspect.signature(model.sample).parameters
    assert list(sample)[:2] == ["n", "y"] and sample["y"].default is None, f"{name}: sample(n, y=None, ...)"
    assert sample["generator"].kind is inspect.Parameter.KEYWORD_ONLY and sample["generator"].default is None, \
        f"{name}: sample(..., *, generator=None)"
    assert all(p.kind is p.KEYWORD_ONLY for p in list(sample.values())[2:]), f"{name}: sample's options are keyword-only"


@pytest.mark.parametrize("name", KINDS)
def test_every_loss_is_a_differentiable_scalar_and_a_dict_of_its_parts(name):
    model, x = example(name)
    result = model.loss(x)
    assert isinstance(result, tuple) and len(result) == 2, f"{name}: loss must return (loss, parts)"
    loss, parts = result
    assert isinstance(loss, torch.Tensor) and loss.shape == () and loss.requires_grad, name
    assert math.isfinite(float(loss.detach()))
    assert isinstance(parts, dict) and parts, f"{name}: parts must be a non-empty dict"
    for key, value in parts.items():
        assert isinstance(key, str), f"{name}: part {key!r} must be named by a string"
        assert isinstance(value, float) or (isinstance(value, torch.Tensor) and value.shape == ()
                                            and not value.requires_grad), \
            f"{name}: part {key!r} must be a float or a detached scalar tensor"
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), \
        f"{name}: the loss reaches no parameter"


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_samples_seeded_examples_of_its_shape(name):
    model, _ = example(name)
    a = model.sample(3, generator=torch.Generator().manual_seed(2))
    b = model.sample(3, generator=torch.Generator().manual_seed(2))
    assert a.shape == (3, *model.config.x_shape) and torch.equal(a, b), name
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("name", KINDS)
def test_an_unconditional_model_given_labels_says_so(name):
    model, x = example(name)
    y = torch.zeros(len(x), dtype=torch.long)
    with pytest.raises(ValueError, match="unconditional.*y must be None"):
        model.sample(len(x), y)
    with pytest.raises(ValueError, match="unconditional.*y must be None"):
        model.loss(x, y)


@pytest.mark.parametrize("name", [k for k in KINDS if takes_labels(MODEL_KINDS[k].config)])
def test_a_conditional_config_makes_a_model_that_needs_its_labels(name):
    """``n_classes`` is in a config only where it means something: a conditional model."""
    model, x = example(name, n_classes=3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    loss, _ = model.loss(x, y)
    assert torch.isfinite(loss)
    assert model.sample(6, y, generator=torch.Generator().manual_seed(0)).shape == (6, *model.config.x_shape)
    with pytest.raises(ValueError, match="conditional on 3 classes: pass labels y"):
        model.sample(6)


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_round_trips_through_a_checkpoint_with_the_same_outputs(name, tmp_path):
    model, x = example(name)
    loaded, _ = load_checkpoint(save_checkpoint(model, tmp_path / f"{name}.pt"), expect=name)
    model.eval()
    assert kind_of(loaded) == name and loaded.config == model.config
    assert model.state_dict().keys() == loaded.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), f"{name}: {key} differs after loading"
    same = [torch.Generator().manual_seed(3) for _ in range(2)]
    assert torch.equal(model.sample(4, generator=same[0]), loaded.sample(4, generator=same[1])), name
    torch.manual_seed(4)
    before = model.loss(x)[0]
    torch.manual_seed(4)
    assert torch.equal(before, loaded.loss(x)[0]), f"{name}: the loaded model's loss differs"


def test_a_training_loop_names_what_a_model_lacks_before_it_trains():
    class NoShape(torch.nn.Module):
        config = object()

    with pytest.raises(TypeError, match=r"train_vae trains a model with config.x_shape and loss\(\); a NoShape has "
                                        r"no config.x_shape .* and no loss\(\)"):
        train_vae(NoShape(), torch.rand(8, 2), progress=False)
    model, _ = example("vae")
    require(model, "train_vae")  # a registered kind passes
    with pytest.raises(TypeError, match=r"no fit_normalization\(\)"):
        require(model, "train_diffusion", ("loss", "fit_normalization"))
