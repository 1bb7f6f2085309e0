"""genlearn.grading.checks: no credit for delegating to genlearn, plain answers only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlearn.grading import checks
from genlearn.grading.checks import REFERENCES, checked, own_work, plain
from genlearn.models import vae as vae_module


def my_kl(mu, logvar):
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def test_own_code_passes_and_its_result_comes_back():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(checked(my_kl)(mu, logvar), vae_module.kl_normal_std(mu, logvar))


@pytest.mark.parametrize("delegate", [
    lambda mu, logvar: vae_module.kl_normal_std(mu, logvar),                       # a direct call
    (lambda f: (lambda mu, logvar: f(mu, logvar)))(vae_module.kl_normal_std),       # an alias in a closure
    lambda mu, logvar: vae_module.VAE(latent_dim=3, hidden=(8,)).loss(torch.rand(2, 1, 8, 8))[0] * 0 + 1,  # a method reaching it
    lambda mu, logvar: __import__("genlearn.metrics", fromlist=["x"]).mode_coverage(torch.zeros(3, 2), torch.zeros(1, 2), 1.0),
])
def test_delegating_to_a_reference_fails_with_a_reason(delegate):
    with pytest.raises(AssertionError, match="calls genlearn's own .*write it yourself"):
        checked(delegate, "kl_diag_gaussian")(torch.randn(2, 3), torch.randn(2, 3))


def test_models_and_data_stay_allowed():
    model = vae_module.VAE(latent_dim=2, hidden=(8,))
    with own_work():
        mu, logvar = model.encode(torch.rand(3, 1, 8, 8))
        model.decode(mu)


def test_diffusion_answers_are_refused_but_its_network_and_schedule_stay_allowed():
    """ex07 hands genlearn's Diffusion network and schedule to the student's functions."""
    from genlearn.models.diffusion import Diffusion

    model = Diffusion(T=5, hidden=(8,))
    x0, t = torch.randn(4, 2), torch.tensor([1, 2, 3, 5])
    with own_work():
        model.eps(x0, t)
        (model.betas, model.alpha_bars, model.sigmas)
    for call in (lambda: model.q_sample(x0, t, torch.randn(4, 2)), lambda: model.loss(x0),
                 lambda: model.sample(3), lambda: model.noised(x0, 2)):
        with pytest.raises(AssertionError, match="calls genlearn's own genlearn.models.diffusion.Diffusion"):
            checked(call)()
    assert model.sample(3).shape == (3, 2), "the sampler works again after the check"


def test_references_are_restored_even_when_the_function_raises():
    def boom():
        raise ValueError("student bug")

    with pytest.raises(ValueError, match="student bug"):
        checked(boom)()
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    assert torch.equal(vae_module.kl_normal_std(mu, logvar), torch.zeros(2))  # works again


def test_decorated_references_and_what_they_wrap_are_caught():
    from genlearn import metrics

    inner = getattr(metrics.negative_elbo, "__wrapped__", None)
    model = vae_module.VAE(latent_dim=2, hidden=(8,))
    calls = [lambda: metrics.negative_elbo(model, torch.rand(4, 1, 8, 8).round())]
    if inner is not None:
        calls.append(lambda: inner(model, torch.rand(4, 1, 8, 8).round()))
    for call in calls:
        with pytest.raises(AssertionError, match="calls genlearn's own"):
            with own_work():
                call()


def test_unrelated_decorated_library_functions_stay_allowed():
    """torch's no_grad wrappers share one code object with genlearn's decorated metrics."""
    params = [torch.nn.Parameter(torch.ones(3))]
    params[0].grad = torch.ones(3)
    with own_work():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        torch.optim.SGD(params, lr=0.1).step()


def test_every_reference_name_exists():
    """A rename in genlearn must not silently switch a check off."""
    import importlib

    for module_name, names in REFERENCES.items():
        module = importlib.import_module(module_name)
        for name in names:
            if name == "*":
                continue
            obj = module
            for part in name.split("."):
                assert hasattr(obj, part), f"checks.REFERENCES names {module_name}.{name}, which does not exist"
                obj = getattr(obj, part)
    names = checks.reference_names()
    assert len(names) > 20 and "genlearn.models.vae.reparameterize" in names


class Liar(float):
    def __sub__(self, other):
        return Liar(0.0)

    def __abs__(self):
        return 0.0


class SneakyTensor(torch.Tensor):
    pass


@pytest.mark.parametrize("value", [Liar(3.0), torch.zeros(2).as_subclass(SneakyTensor), [1.0, Liar(1.0)],
                                   {"precision": Liar(1.0)}, object()])
def test_plain_refuses_objects_built_to_pass_comparisons(value):
    with pytest.raises(AssertionError, match="expected a torch.Tensor"):
        plain(value)


@pytest.mark.parametrize("value", [1.0, 3, True, np.float64(2.0), np.float32(1.0), torch.zeros(3),
                                   np.zeros(2), (torch.zeros(1), 2.0), {"d_loss": 0.5}, None])
def test_plain_accepts_honest_answers(value):
    assert plain(value) is value or plain(value) == value or isinstance(value, (torch.Tensor, np.ndarray))
