import math

import pytest
import torch

from genlearn.data import toy2d
from genlearn.models.diffusion import Diffusion, DiffusionConfig, timestep_embedding
from genlearn.train import train_diffusion


def test_schedule_ends_in_noise_and_matches_its_definition():
    m = Diffusion()
    assert m.alpha_bars[-1] < 0.01, "x_T must be (almost) pure noise"
    assert torch.allclose(m.alpha_bars, torch.cumprod(1 - m.betas, 0))
    assert torch.all(m.sigmas[1:] <= m.betas[1:].sqrt() + 1e-7) and m.sigmas[0] == 0


def test_q_sample_has_the_right_mean_and_variance():
    m = Diffusion(T=10, beta_start=0.05, beta_end=0.3)
    x0 = torch.full((20_000, 2), 2.0)
    t = torch.full((20_000,), 4, dtype=torch.long)
    xt = m.q_sample(x0, t, torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0)))
    ab = float(m.alpha_bars[4])
    assert xt.mean().item() == pytest.approx(2 * math.sqrt(ab), abs=0.02)
    assert xt.var().item() == pytest.approx(1 - ab, rel=0.05)
    data = torch.randn(100, 2)
    assert torch.equal(m.noised(data, 0), data)
    with pytest.raises(ValueError, match="t must be"):
        m.noised(data, 11)


def test_timestep_embedding_shape_and_distinct_steps():
    e = timestep_embedding(torch.arange(50), 15)
    assert e.shape == (50, 15)
    assert torch.cdist(e, e).add(torch.eye(50)).min() > 1e-3, "every step gets its own code"


def test_config_validation():
    with pytest.raises(ValueError, match="beta"):
        DiffusionConfig(beta_start=0.2, beta_end=0.1)
    with pytest.raises(ValueError, match="T"):
        DiffusionConfig(T=0)
    with pytest.raises(ValueError, match="x must be"):
        Diffusion().loss(torch.zeros(4, 3))


def test_training_lowers_the_loss_and_samples_land_on_the_data():
    data = toy2d("ring", 4000, seed=0)
    torch.manual_seed(0)
    model = Diffusion(T=50, hidden=(64, 64), beta_end=0.2)
    history = train_diffusion(model, data, steps=600, batch_size=256, progress=False, log_every=50)
    loss = history.series("loss")
    assert history.steps == 600 and len(loss) == 12
    assert loss[-3:].mean() < 0.85 * loss[:2].mean()
    gen = torch.Generator().manual_seed(1)
    samples, traj = model.sample(1000, generator=gen, return_trajectory=True, keep_every=10)
    assert samples.shape == (1000, 2) and len(traj) == 1 + 5 + 1 - 1  # x_T, then t = 40, 30, 20, 10, 0
    assert torch.allclose(traj[-1], samples.cpu())
    # samples are much closer to the (thin) ring than the initial noise is
    d_samples = torch.cdist(samples, data.x[:2000]).min(1).values.median()
    d_noise = torch.cdist(traj[0], data.x[:2000]).min(1).values.median()
    assert d_samples < 0.5 * d_noise
    # the same generator seed gives the same samples
    again = model.sample(1000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(again, samples)


def test_time_budget_stops_training():
    history = train_diffusion(Diffusion(hidden=(16,)), torch.randn(500, 2), steps=10**6,
                              max_seconds=0.3, progress=False)
    assert history.stopped == "time budget" and history.steps < 10**6 and history.records


def test_steps_are_numbered_1_to_T_everywhere():
    m = Diffusion(T=10, beta_start=0.05, beta_end=0.3)
    assert len(m.betas) == len(m.alpha_bars) == len(m.sigmas) == 11
    assert m.betas[0] == 0 and m.alpha_bars[0] == 1 and m.betas[1] == pytest.approx(0.05)
    assert m.betas[10] == pytest.approx(0.3)
    x = torch.zeros(50_000, 2)
    noised = m.noised(x, 10, generator=torch.Generator().manual_seed(0))  # x_T: variance 1 - alpha_bar_T
    assert noised.var().item() == pytest.approx(1 - float(m.alpha_bars[10]), rel=0.03)
    seen = []
    original = m.eps
    m.eps = lambda x_t, t: (seen.append(t.clone()), original(x_t, t))[1]
    m.sample(4, generator=torch.Generator().manual_seed(0))
    assert [int(t[0]) for t in seen] == list(range(10, 0, -1)), "sampling visits t = T, ..., 1"
    seen.clear()
    m.loss(torch.randn(2000, 2), generator=torch.Generator().manual_seed(0))
    (t,) = seen
    assert int(t.min()) == 1 and int(t.max()) == 10, "training draws t uniformly from 1..T"
