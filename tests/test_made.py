import itertools

import pytest
import torch

from genlearn.data import digits
from genlearn.models import MADE, MADEConfig
from genlearn.train import train_likelihood


def test_output_i_depends_only_on_inputs_before_i():
    torch.manual_seed(0)
    made = MADE(x_shape=(6,), hidden=(12, 12))
    x = torch.rand(1, 6, requires_grad=True)
    for i in range(6):
        (grad,) = torch.autograd.grad(made.logits(x)[0, i], x)
        assert torch.all(grad[0, i:] == 0), f"logit {i} reads pixels >= {i}"
    (grad,) = torch.autograd.grad(made.logits(x)[0, 5], x)
    assert torch.all(grad[0, :5] != 0), "the last logit should read every earlier pixel"


def test_probabilities_of_all_binary_vectors_sum_to_one():
    torch.manual_seed(0)
    made = MADE(x_shape=(5,), hidden=(16,))
    for p in made.parameters():
        p.data.add_(torch.randn_like(p))
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=5)))
    with torch.no_grad():
        total = made.log_prob(every).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-5)


def test_log_prob_is_the_sum_of_bernoulli_terms_and_samples_are_binary_images():
    torch.manual_seed(0)
    made = MADE(x_shape=(1, 2, 2), hidden=(8,), direct=False)
    x = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    p = torch.sigmoid(made.logits(x))[0]
    expected = torch.log(torch.where(x.flatten() == 1, p, 1 - p)).sum()
    assert made.log_prob(x).item() == pytest.approx(expected.item(), abs=1e-5)
    s = made.sample(7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (7, 1, 2, 2) and set(s.unique().tolist()) <= {0.0, 1.0}


def test_config_and_input_validation():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        MADEConfig(x_shape=(1,))
    with pytest.raises(ValueError, match=r"hidden\[0\] must be >= 1, got 0"):
        MADEConfig(hidden=(0,))
    with pytest.raises(TypeError, match=r"hidden\[1\] must be an integer, got 2.5"):
        MADEConfig(hidden=(8, 2.5))  # was silently int(2.5) = 2
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 8, 8\)"):
        MADE().log_prob(torch.zeros(2, 64))


@pytest.mark.slow
def test_training_lowers_the_held_out_nll_and_samples_follow_the_pixel_means():
    train, test = digits("train"), digits("test")
    torch.manual_seed(0)
    made = MADE(hidden=(128,))
    with torch.no_grad():
        before = -made.log_prob(test.x).mean().item()
    history = train_likelihood(made, train, epochs=15, batch_size=64, lr=3e-3, progress=False)
    with torch.no_grad():
        after = -made.log_prob(test.x).mean().item()
    assert history.series("nll")[-1] < history.series("nll")[0]
    assert after < 0.6 * before, f"held-out NLL {before:.1f} -> {after:.1f} nats"
    s = made.sample(500, generator=torch.Generator().manual_seed(0))
    assert (s.mean(0) - train.x.mean(0)).abs().mean() < 0.08, "sample pixel means should follow the data's"
