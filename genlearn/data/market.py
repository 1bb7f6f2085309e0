r"""A synthetic stock market with the stylized facts of real returns, and checks for them.

Daily log returns :math:`r_t` of real assets share a few "stylized facts" (Cont, 2001):

1. **no linear autocorrelation**: :math:`\mathrm{corr}(r_t, r_{t+\ell}) \approx 0`;
2. **fat tails**: the excess kurtosis of :math:`r_t` is well above the Gaussian's 0;
3. **volatility clustering**: large moves follow large moves, so
   :math:`\mathrm{corr}(|r_t|, |r_{t+\ell}|) > 0` and decays slowly with the lag.

:func:`simulate_returns` draws them from a GARCH(1, 1) process (Bollerslev, 1986) with
Student-t innovations:

.. math:: r_t = \sigma_t \varepsilon_t,\quad
          \sigma_t^2 = \omega + \alpha\, r_{t-1}^2 + \beta\, \sigma_{t-1}^2,\quad
          \varepsilon_t \sim t_\nu \text{ scaled to unit variance}

:func:`market` cuts the series into windows (a "scenario" is one window of daily returns),
and :func:`stylized_facts` measures the three facts on any set of windows, real or generated.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import check_count, check_number, check_positive, check_positive_int, check_seed
from .base import check_n

MAX_WINDOW = 4096  # days
DAILY_VOL = 0.01  # long-run daily volatility of the simulated asset (1%)


def simulate_returns(n_days: int, seed: int = 0, *, alpha: float = 0.09, beta: float = 0.89,
                     nu: float = 5.0, daily_vol: float = DAILY_VOL) -> np.ndarray:
    """``n_days`` daily log returns (float64) from GARCH(1, 1) with Student-t(nu) shocks."""
    n_days = check_n("n_days", n_days, (2,))  # float64 values: 8 bytes a day
    if alpha < 0 or beta < 0 or alpha + beta >= 1:
        raise ValueError(f"need alpha, beta >= 0 and alpha + beta < 1 (stationary), got {alpha}, {beta}")
    nu = check_number("nu", nu, above=2, why="finite variance")
    rng = np.random.default_rng(check_seed("seed", seed))
    eps = rng.standard_t(nu, size=n_days) * np.sqrt((nu - 2) / nu)  # unit variance
    omega = daily_vol**2 * (1 - alpha - beta)
    r = np.empty(n_days)
    var = daily_vol**2
    for t in range(n_days):  # a scalar recursion: 100k days take ~0.1 s
        r[t] = np.sqrt(var) * eps[t]
        var = omega + alpha * r[t] ** 2 + beta * var
    return r


class MarketWindows(Dataset):
    """Return windows ``x`` (N, window) in units of the long-run daily volatility.

    ``scale`` converts back to returns (``x * scale``); ``returns`` is the whole series.
    """

    def __init__(self, x: torch.Tensor, returns: np.ndarray, scale: float):
        self.x, self.returns, self.scale = x, returns, scale
        self.y = None
        self.name = "market"

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return (self.x[i],)

    @property
    def window(self) -> int:
        return self.x.shape[1]

    def __repr__(self) -> str:
        return f"MarketWindows(n={len(self)}, window={self.window}, scale={self.scale})"


def return_windows(returns, window: int, stride: int | None = None) -> np.ndarray:
    """Cut a 1D series into (N, window) windows, ``stride`` apart (default: not overlapping)."""
    window = check_positive_int("window", window)
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or len(r) < window:
        raise ValueError(f"returns must be 1D with at least {window} values, got shape {r.shape}")
    stride = check_positive_int("stride", stride or window)
    starts = np.arange(0, len(r) - window + 1, stride)
    return np.stack([r[s:s + window] for s in starts])


def market(n_windows: int = 4_000, window: int = 32, seed: int = 0, **garch) -> MarketWindows:
    """``n_windows`` non-overlapping windows of simulated daily returns, standardized."""
    window = check_count("window", window, MAX_WINDOW, "days")
    n_windows = check_n("n_windows", n_windows, (window,))
    r = simulate_returns(n_windows * window + 250, seed, **garch)[250:]  # drop the burn-in
    scale = float(garch.get("daily_vol", DAILY_VOL))
    x = torch.tensor(return_windows(r, window) / scale, dtype=torch.float32)
    return MarketWindows(x, r, scale)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def stylized_facts(windows, lags=(1, 2, 5)) -> dict:
    """Measure the stylized facts on (N, T) return windows (or one 1D series).

    Returns ``excess_kurtosis`` (0 for a Gaussian), ``autocorr_returns`` (mean over
    ``lags`` of corr(r_t, r_{t+lag}), ~0 in real markets) and ``autocorr_abs`` (mean over
    ``lags`` of corr(|r_t|, |r_{t+lag}|), > 0 with volatility clustering), plus ``std``.
    Pairs are taken within windows, never across a window's end.
    """
    w = windows.detach().cpu().numpy() if isinstance(windows, torch.Tensor) else np.asarray(windows)
    w = np.atleast_2d(w.astype(float))
    if w.ndim != 2:
        raise ValueError(f"windows must be (N, T) or (T,), got shape {w.shape}")
    lags = tuple(check_count("lags", lag, w.shape[1] - 1, "the windows' length - 1") for lag in lags)
    if not lags:
        raise ValueError("lags is empty: expected at least one lag")
    flat = w.ravel()
    z = (flat - flat.mean()) / flat.std()
    kurt = float((z**4).mean() - 3.0)
    ac = [_corr(w[:, :-lag].ravel(), w[:, lag:].ravel()) for lag in lags]
    aw = np.abs(w)
    ac_abs = [_corr(aw[:, :-lag].ravel(), aw[:, lag:].ravel()) for lag in lags]
    return {"excess_kurtosis": kurt, "autocorr_returns": float(np.mean(ac)),
            "autocorr_abs": float(np.mean(ac_abs)), "std": float(flat.std())}


def to_log_abs(windows, eps: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Split returns into magnitudes on a log scale and signs: ``(log(|r| + eps), sign(r))``.

    Volatility is a *level* of :math:`\log|r|` shared by a window, a direction a VAE finds
    easily; the signs carry (almost) nothing predictable (stylized fact 1).
    """
    w = torch.as_tensor(windows, dtype=torch.float32)
    eps = check_positive("eps", eps)
    return torch.log(w.abs() + eps), torch.where(w < 0, -1.0, 1.0)


def from_log_abs(log_abs: torch.Tensor, signs: torch.Tensor | None = None, *, eps: float = 0.1,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The inverse of :func:`to_log_abs`; without ``signs``, fair random signs are drawn."""
    log_abs = torch.as_tensor(log_abs, dtype=torch.float32)
    if signs is None:
        flips = torch.rand(log_abs.shape, generator=generator, device=log_abs.device) < 0.5
        signs = torch.where(flips, -1.0, 1.0)
    return signs * (log_abs.exp() - eps).clamp_min(0.0)
