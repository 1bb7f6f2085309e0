r"""A RealNVP normalizing flow (Dinh, Sohl-Dickstein & Bengio, 2017) for low-dimensional data.

A flow is an invertible map between data :math:`x` and a latent :math:`z \sim \mathcal N(0, I)`
of the same size. Its likelihood is exact, by the change of variables:

.. math:: \log p(x) = \log \mathcal N\big(f(x);\ 0, I\big)
          + \log\left|\det \frac{\partial f(x)}{\partial x}\right|,
          \qquad z = f(x) = f_K \circ \dots \circ f_1(x)

**Affine coupling layer** (one :math:`f_k`): a binary mask :math:`m` keeps some coordinates
and transforms the others with a scale and shift computed from the kept ones only,

.. math:: y = m \odot x + (1 - m) \odot \big(x \odot e^{s(m \odot x)} + t(m \odot x)\big),
          \qquad \log\left|\det \frac{\partial y}{\partial x}\right| = \sum_i (1 - m_i)\, s_i ,

so the Jacobian is triangular and its determinant is a sum of the scales; the inverse is as
cheap, :math:`x = m \odot y + (1 - m) \odot (y - t)\, e^{-s}`. Layers alternate their masks so
every coordinate gets transformed.

**Training** maximizes the exact log-likelihood: ``loss`` is :math:`-\frac1B\sum_b \log p(x_b)`
in nats per example. **Sampling** draws :math:`z` and runs the layers backwards.

Data are standardized inside the model (``shift``/``scale`` buffers from the training data,
:meth:`Flow.fit_normalization`); the standardization's own Jacobian, :math:`-\sum_i \log
\mathrm{scale}_i`, is part of ``log_prob``, so likelihoods are in the data's units.
:func:`genlearn.train.train_likelihood` trains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .._checks import check_batch, check_positive_int, check_size, resolve_config
from .blocks import Standardizes, check_sizes, mean_nll, mlp, unconditional

LOG_2PI = math.log(2 * math.pi)


@dataclass
class FlowConfig:
    x_dim: int = 2
    n_layers: int = 8                      # affine coupling layers, masks alternating
    hidden: tuple[int, ...] = (64, 64)     # widths of each layer's s, t network

    def __post_init__(self):
        self.hidden = check_sizes("hidden", self.hidden)
        self.n_layers = check_size("n_layers", self.n_layers)
        self.x_dim = check_size("x_dim", self.x_dim)
        if self.x_dim < 2:
            raise ValueError(f"a coupling flow needs x_dim >= 2 (one part conditions the other), got {self.x_dim}")

    @property
    def x_shape(self) -> tuple[int, ...]:
        """The shape of one example: (x_dim,)."""
        return (self.x_dim,)


class AffineCoupling(nn.Module):
    """One coupling layer: the coordinates where ``mask`` is 1 pass unchanged and set the
    scale ``s`` and shift ``t`` of the others."""

    def __init__(self, mask: torch.Tensor, hidden: tuple[int, ...]):
        super().__init__()
        d = len(mask)
        self.register_buffer("mask", mask.float())                    # (D,)
        self.net = mlp([d, *hidden, 2 * d], act=nn.SiLU)
        nn.init.zeros_(self.net[-1].weight)                          # starts as the identity map
        nn.init.zeros_(self.net[-1].bias)
        self.s_scale = nn.Parameter(torch.ones(d))                   # s = s_scale * tanh(.): bounded

    def _s_t(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(kept).chunk(2, dim=1)                         # (B, D) each
        free = 1 - self.mask
        return self.s_scale * torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> y and log|det dy/dx| (B,)."""
        s, t = self._s_t(x * self.mask)
        return x * s.exp() + t, s.sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._s_t(y * self.mask)                               # y's kept part equals x's
        return (y - t) * (-s).exp()


class Flow(Standardizes, nn.Module):
    """RealNVP: ``n_layers`` affine couplings from data x (B, D) to z (B, D) ~ N(0, I)."""

    def __init__(self, config: FlowConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(FlowConfig, config, overrides)
        half = torch.arange(cfg.x_dim) < cfg.x_dim // 2
        self.layers = nn.ModuleList(AffineCoupling(half if k % 2 == 0 else ~half, cfg.hidden)
                                    for k in range(cfg.n_layers))
        self.register_buffer("shift", torch.zeros(cfg.x_dim))
        self.register_buffer("scale", torch.ones(cfg.x_dim))

    @property
    def device(self) -> torch.device:
        return self.shift.device

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f(x) (B, D) and log|det df/dx| (B,), the standardization included."""
        z = (x - self.shift) / self.scale
        log_det = -self.scale.log().sum().expand(len(x))
        for layer in self.layers:
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """x = f^{-1}(z): the layers run backwards, then the standardization is undone."""
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z * self.scale + self.shift

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) (B,) in nats: log N(f(x); 0, I) + log|det df/dx|, exactly."""
        x = check_batch("x", x, (self.config.x_dim,))
        z, log_det = self(x)
        return -0.5 * (z.square() + LOG_2PI).sum(1) + log_det

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """The mean negative log-likelihood -1/B sum_b log p(x_b) (nats per example), and its
        parts; ``y`` must be None (unconditional)."""
        unconditional(y)
        return mean_nll(self.log_prob(x))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples (n, D): z ~ N(0, I) pushed through the inverse flow; ``y`` must be None."""
        n = check_positive_int("n", n)
        unconditional(y)
        z = torch.randn(n, self.config.x_dim, device=self.device, generator=generator)
        return self.inverse(z)
