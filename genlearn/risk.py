r"""Risk measures for generated scenarios, and a backtest of them on held-out data (lesson 09).

A portfolio's *loss* over a horizon is :math:`L = -(\text{its return})`; a generator of
return scenarios gives a sample of :math:`L`. From such a sample:

* :func:`value_at_risk`: :math:`\mathrm{VaR}_\alpha = \inf\{\ell : P(L \le \ell) \ge \alpha\}`,
  the loss exceeded with probability at most :math:`1 - \alpha` (e.g. :math:`\alpha = 0.99`:
  "on 99 days of 100 we lose less than this").
* :func:`expected_shortfall`: :math:`\mathrm{ES}_\alpha = E[L \mid L \ge \mathrm{VaR}_\alpha]`,
  the mean loss *in* the worst :math:`1 - \alpha` of cases; unlike VaR it sees how fat the
  tail beyond the quantile is (Basel III's market-risk measure, at 97.5%).
* :func:`exceedance_backtest`: count how often real (held-out) losses exceed a model's VaR.
  A correct VaR is exceeded at the rate :math:`p = 1 - \alpha`; Kupiec's (1995)
  proportion-of-failures test compares the observed rate :math:`\hat p = x / n` with it by
  the likelihood ratio

  .. math:: \mathrm{LR} = -2 \ln \frac{(1 - p)^{n - x} p^{x}}{(1 - \hat p)^{n - x} \hat p^{x}}
            \;\sim\; \chi^2_1 \text{ under } H_0,

  whose p-value is :math:`P(\chi^2_1 > \mathrm{LR}) = \operatorname{erfc}(\sqrt{\mathrm{LR}/2})`.
  The test assumes independent exceedances; clustered ones make it too lenient.
"""

from __future__ import annotations

import math

import torch

from ._checks import as_tensor, check_finite, check_fraction, check_number

__all__ = ["value_at_risk", "expected_shortfall", "exceedance_backtest"]


def _losses(name: str, losses) -> torch.Tensor:
    x = as_tensor(name, losses)
    if not torch.is_floating_point(x):
        x = x.double()
    x = x.detach().cpu().double().flatten()
    if len(x) < 1:
        raise ValueError(f"{name} must hold at least one loss, got an empty array")
    return check_finite(name, x)


def _level(level) -> float:
    return check_fraction("level", level, "()", "a probability")
    return float(level)


def value_at_risk(losses, level: float = 0.99) -> float:
    r"""The empirical :math:`\mathrm{VaR}_\alpha` of a sample of losses (``level`` = :math:`\alpha`).

    The smallest sample value :math:`\ell` with at least a fraction :math:`\alpha` of the
    sample :math:`\le \ell`: the :math:`\lceil \alpha n \rceil`-th smallest loss. Losses are
    positive when money is lost (pass ``-returns``).
    """
    x, alpha = _losses("losses", losses), _level(level)
    k = max(1, math.ceil(alpha * len(x) - 1e-9))       # rank of the quantile, 1-based
    return float(torch.kthvalue(x, k).values)


def expected_shortfall(losses, level: float = 0.99) -> float:
    r"""The empirical :math:`\mathrm{ES}_\alpha = E[L \mid L \ge \mathrm{VaR}_\alpha]`: the mean
    of the losses at or beyond :func:`value_at_risk`. Always :math:`\ge \mathrm{VaR}_\alpha`."""
    x = _losses("losses", losses)
    var = value_at_risk(x, level)
    return float(x[x >= var].mean())


def exceedance_backtest(losses, var: float, level: float = 0.99) -> dict:
    r"""How often the realized ``losses`` exceed ``var``, against the rate :math:`1 - \alpha`.

    Returns ``n``, ``exceedances`` (:math:`x`, losses strictly above ``var``), ``rate``
    (:math:`x/n`), ``expected_rate`` (:math:`1 - \alpha`), ``ratio`` (rate / expected rate:
    above 1, the model understates the risk), and Kupiec's ``lr`` and ``p_value`` (small,
    e.g. < 0.05: reject "this VaR is exceeded at the right rate").
    """
    x, alpha = _losses("losses", losses), _level(level)
    var = check_number("var", var, why="a loss level")
    n, hits = len(x), int((x > var).sum())
    p, rate = 1 - alpha, hits / len(x)

    def log_lik(q):   # log of q^hits (1 - q)^(n - hits), with 0 log 0 = 0
        return (hits * math.log(q) if hits else 0.0) + ((n - hits) * math.log1p(-q) if n > hits else 0.0)

    lr = max(0.0, -2.0 * (log_lik(p) - log_lik(rate)))
    return {"n": n, "exceedances": hits, "rate": rate, "expected_rate": p, "ratio": rate / p,
            "lr": lr, "p_value": math.erfc(math.sqrt(lr / 2))}
