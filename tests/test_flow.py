import math

import pytest
import torch

from genlearn.data import toy2d
from genlearn.models import Flow, FlowConfig
from genlearn.train import train_likelihood


def test_a_fresh_flow_is_a_standardized_gaussian_with_its_exact_density():
    torch.manual_seed(0)
    flow = Flow(n_layers=4, hidden=(8,))
    flow.fit_normalization(torch.tensor([[0.0, 0.0], [2.0, 4.0]]))   # mean (1, 2), std (1.41, 2.83)
    x = torch.randn(5, 2)
    scale = torch.tensor([math.sqrt(2), 2 * math.sqrt(2)])
    z = (x - torch.tensor([1.0, 2.0])) / scale
    expected = torch.distributions.Normal(0, 1).log_prob(z).sum(1) - scale.log().sum()
    assert torch.allclose(flow.log_prob(x), expected, atol=1e-5)


def test_inverse_undoes_forward_and_log_det_matches_autograd():
    torch.manual_seed(0)
    flow = Flow(n_layers=6, hidden=(16, 16))
    for p in flow.parameters():                        # leave the identity start
        p.data.add_(0.3 * torch.randn_like(p))
    flow.fit_normalization(torch.randn(50, 2) * 3 + 1)
    x = torch.randn(20, 2) * 3
    z, log_det = flow(x)
    assert torch.allclose(flow.inverse(z), x, atol=1e-4)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])
        assert log_det[i].item() == pytest.approx(torch.linalg.slogdet(jac).logabsdet.item(), abs=1e-4)


def test_density_integrates_to_one_on_a_grid():
    torch.manual_seed(0)
    flow = Flow(n_layers=4, hidden=(16,))
    for p in flow.parameters():
        p.data.add_(0.2 * torch.randn_like(p))
    g = torch.linspace(-8, 8, 400)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    with torch.no_grad():
        p = flow.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp()
    assert float(p.sum() * (g[1] - g[0]) ** 2) == pytest.approx(1.0, abs=0.02)


def test_config_and_input_validation():
    with pytest.raises(ValueError, match="x_dim >= 2"):
        FlowConfig(x_dim=1)
    with pytest.raises(ValueError, match="n_layers"):
        FlowConfig(n_layers=0)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2\)"):
        Flow().log_prob(torch.zeros(4, 3))


@pytest.mark.slow
def test_training_raises_the_held_out_likelihood_far_above_a_gaussian():
    ring, test = toy2d("ring", 4000, seed=0), toy2d("ring", 2000, seed=1)
    torch.manual_seed(0)
    flow = Flow(n_layers=6, hidden=(32, 32))
    history = train_likelihood(flow, ring, epochs=8, batch_size=256, lr=3e-3, progress=False)
    nll = history.series("nll")
    assert nll[-1] < nll[0] - 1.0
    gaussian = math.log(2 * math.pi * math.e) + 0.5 * torch.logdet(torch.cov(ring.x.T)).item()
    with torch.no_grad():
        held_out = -flow.log_prob(test.x).mean().item()
    assert held_out < gaussian - 1.0, f"a flow should beat one Gaussian ({gaussian:.2f}), got {held_out:.2f}"
    assert flow.sample(10, generator=torch.Generator().manual_seed(0)).shape == (10, 2)
