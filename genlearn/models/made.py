r"""MADE, a masked autoencoder for distribution estimation (Germain et al., 2015): a small
autoregressive model of binary images.

An autoregressive model factorizes the likelihood by the chain rule, pixel after pixel in a
fixed order (here raster order, :math:`i = 1, \dots, D`):

.. math:: p(x) = \prod_{i=1}^{D} p(x_i \mid x_{<i}), \qquad
          p(x_i = 1 \mid x_{<i}) = \sigma\big(\ell_i(x_{<i})\big)

so :math:`\log p(x) = \sum_i \big[x_i \log \sigma(\ell_i) + (1 - x_i)\log(1 - \sigma(\ell_i))\big]`
is exact: no latent variable, no bound. MADE computes all :math:`D` logits :math:`\ell_i` in
**one** pass of an MLP whose weights are masked so that output :math:`i` sees only inputs
:math:`< i`: every unit gets a degree :math:`m` (inputs :math:`1..D`, hidden units
:math:`1..D-1`), a hidden unit of degree :math:`m` may read units of degree :math:`\le m`,
and output :math:`i` may read hidden units of degree :math:`< i`. A masked direct
input-to-output layer (strictly lower triangular) adds the linear part.

**Training** maximizes the exact log-likelihood (``loss`` = mean :math:`-\log p(x)`, nats per
image), all pixels in parallel. **Sampling** is sequential: :math:`D` passes, one pixel each,
which is also what makes the model a policy for reinforcement learning: every pixel is an
action, and ``log_prob`` is the log-probability of the whole episode.
:func:`genlearn.train.train_likelihood` trains it and :func:`genlearn.train.finetune_with_reward`
fine-tunes it by policy gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_batch, check_positive_int, resolve_config
from .blocks import MaskedLinear, check_sizes, mean_nll, unconditional


@dataclass
class MADEConfig:
    x_shape: tuple[int, ...] = (1, 8, 8)   # binary images (C, H, W), or (D,) vectors
    hidden: tuple[int, ...] = (256,)       # widths of the masked hidden layers
    direct: bool = True                    # a masked linear input -> output connection

    def __post_init__(self):
        self.x_shape = check_sizes("x_shape", self.x_shape)
        self.hidden = check_sizes("hidden", self.hidden)
        if math.prod(self.x_shape) < 2:
            raise ValueError(f"an autoregressive model needs at least 2 dimensions, got x_shape {self.x_shape}")

    @property
    def x_range(self) -> tuple[float, float]:
        """Bernoulli pixels: the values data may take."""
        return (0.0, 1.0)


def made_degrees(d: int, hidden: tuple[int, ...]) -> list[torch.Tensor]:
    """Degrees of the inputs (1..d) and of each hidden layer (cycling through 1..d-1)."""
    return [torch.arange(1, d + 1)] + [torch.arange(h) % (d - 1) + 1 for h in hidden]


class MADE(nn.Module):
    """Logits of p(x_i = 1 | x_<i) for all i in one masked pass; exact log p(x); sequential sampling."""

    def __init__(self, config: MADEConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(MADEConfig, config, overrides)
        d = self.dim = math.prod(cfg.x_shape)
        degrees = made_degrees(d, cfg.hidden)
        layers: list[nn.Module] = []
        for m_in, m_out in zip(degrees[:-1], degrees[1:]):
            layers += [MaskedLinear(m_out[:, None] >= m_in[None, :]), nn.ReLU()]   # (out, in)
        out_in = torch.arange(1, d + 1)[:, None] > degrees[-1][None, :]             # output i reads m < i
        self.net = nn.Sequential(*layers, MaskedLinear(out_in))
        tri = torch.arange(d)[:, None] > torch.arange(d)[None, :]                    # strictly lower
        self.direct = MaskedLinear(tri, bias=False) if cfg.direct else None

    @property
    def device(self) -> torch.device:
        return self.net[-1].weight.device

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *x_shape) -> (B, D) logits; entry i depends on pixels before i only."""
        h = x.flatten(1)
        out = self.net(h)
        return out if self.direct is None else out + self.direct(h)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) (B,) in nats, exactly: the sum of the D Bernoulli log-likelihoods."""
        x = check_batch("x", x, self.config.x_shape)
        return -F.binary_cross_entropy_with_logits(self.logits(x), x.flatten(1), reduction="none").sum(1)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """The mean negative log-likelihood -1/B sum_b log p(x_b) (nats per image), and its
        parts; ``y`` must be None (unconditional)."""
        unconditional(y)
        return mean_nll(self.log_prob(x))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` binary samples (n, *x_shape), drawn pixel by pixel in D passes; ``y`` must be None."""
        n = check_positive_int("n", n)
        unconditional(y)
        x = torch.zeros(n, self.dim, device=self.device)
        for i in range(self.dim):
            p = torch.sigmoid(self.logits(x)[:, i])
            x[:, i] = (torch.rand(n, device=self.device, generator=generator) < p).float()
        return x.view(n, *self.config.x_shape)
