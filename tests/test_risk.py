import math

import numpy as np
import pytest
import torch

from genlearn.risk import exceedance_backtest, expected_shortfall, value_at_risk


def test_var_and_es_of_a_known_sample():
    losses = torch.arange(1, 101, dtype=torch.float32)           # 1, 2, ..., 100
    assert value_at_risk(losses, 0.99) == 99.0   # 99 of the 100 losses are <= 99
    assert value_at_risk(losses, 0.95) == 95.0
    assert value_at_risk(losses, 0.5) == 50.0
    assert expected_shortfall(losses, 0.95) == pytest.approx(np.mean(range(95, 101)))
    assert expected_shortfall(losses, 0.99) == pytest.approx(99.5)
    # order does not matter, and lists and arrays work like tensors
    shuffled = losses[torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    assert value_at_risk(shuffled.tolist(), 0.99) == 99.0
    assert expected_shortfall(shuffled.numpy(), 0.95) == pytest.approx(97.5)


def test_var_and_es_of_a_gaussian_match_the_closed_form():
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # N(0, 1): VaR_0.99 = 2.326, ES_0.99 = phi(2.326) / 0.01 = 2.665
    assert value_at_risk(z, 0.99) == pytest.approx(2.3263, abs=0.03)
    assert expected_shortfall(z, 0.99) == pytest.approx(2.6652, abs=0.03)
    assert value_at_risk(z, 0.95) == pytest.approx(1.6449, abs=0.02)
    # a fatter tail with the same VaR has a larger ES: ES sees beyond the quantile
    t = torch.distributions.StudentT(3.0).sample((400_000,)) / math.sqrt(3.0)
    assert expected_shortfall(t, 0.99) / value_at_risk(t, 0.99) > expected_shortfall(z, 0.99) / value_at_risk(z, 0.99) + 0.1


def test_backtest_counts_exceedances_and_kupiec_matches_the_chi2():
    losses = torch.arange(1, 1001, dtype=torch.float64)
    right = exceedance_backtest(losses, 990.0, 0.99)            # exactly 10 of 1000 above: 1%
    assert right["exceedances"] == 10 and right["n"] == 1000
    assert right["rate"] == pytest.approx(0.01) and right["ratio"] == pytest.approx(1.0)
    assert right["lr"] == pytest.approx(0.0, abs=1e-9) and right["p_value"] == pytest.approx(1.0)
    # 7 exceedances in 250 days at 99% (Basel's yellow zone): LR = 5.497, p = 0.0190 (scipy's chi2.sf)
    days = torch.cat([torch.full((7,), 2.0), torch.zeros(243)])
    bad = exceedance_backtest(days, 1.0, 0.99)
    assert bad["exceedances"] == 7 and bad["ratio"] == pytest.approx(2.8)
    assert bad["lr"] == pytest.approx(5.49699, abs=1e-4) and bad["p_value"] == pytest.approx(0.019049, abs=1e-5)
    # too few exceedances are rejected too (a VaR that is too cautious), and none at all is finite
    none = exceedance_backtest(torch.zeros(1000), 1.0, 0.99)
    assert none["exceedances"] == 0 and none["p_value"] < 0.001 and math.isfinite(none["lr"])


def test_a_var_from_the_true_distribution_passes_its_backtest():
    gen = torch.Generator().manual_seed(1)
    scenarios, realized = torch.randn(100_000, generator=gen), torch.randn(20_000, generator=gen)
    result = exceedance_backtest(realized, value_at_risk(scenarios, 0.99), 0.99)
    assert 0.0075 < result["rate"] < 0.0125 and result["p_value"] > 0.01
    too_narrow = exceedance_backtest(realized, value_at_risk(0.7 * scenarios, 0.99), 0.99)
    assert too_narrow["ratio"] > 3 and too_narrow["p_value"] < 1e-6


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, True, "0.99", None])
def test_level_must_be_a_probability(level):
    for fn in (value_at_risk, expected_shortfall):
        with pytest.raises(ValueError, match="level must be a probability in"):
            fn([1.0, 2.0], level)
    with pytest.raises(ValueError, match="level must be a probability in"):
        exceedance_backtest([1.0, 2.0], 1.5, level)


def test_bad_losses_and_var_are_named():
    with pytest.raises(ValueError, match="at least one loss"):
        value_at_risk([])
    with pytest.raises(ValueError, match="losses must hold finite numbers"):
        expected_shortfall([1.0, float("nan")])
    with pytest.raises(TypeError, match="losses must be a tensor or an array of numbers"):
        value_at_risk("big")
    with pytest.raises(ValueError, match="var must be a finite number"):
        exceedance_backtest([1.0, 2.0], float("inf"))
    with pytest.raises(ValueError, match="var must be a finite number"):
        exceedance_backtest([1.0, 2.0], torch.tensor([1.0, 2.0]))
    # integer losses are fine
    assert value_at_risk(torch.tensor([1, 2, 3, 4]), 0.75) == 3.0
