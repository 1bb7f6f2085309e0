r"""A tiny denoising diffusion model (DDPM; Ho, Jain & Abbeel, 2020) for 2D points.

**Forward process** (fixed, no parameters): add Gaussian noise over ``T`` steps with a
schedule :math:`\beta_1, \dots, \beta_T`. With :math:`\alpha_t = 1 - \beta_t` and
:math:`\bar\alpha_t = \prod_{s \le t} \alpha_s`, a noisy version of ``x_0`` at any step is one
draw away:

.. math:: q(x_t | x_0) = \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big)
          \quad\Longleftrightarrow\quad
          x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon

**Training**: a network :math:`\epsilon_\theta(x_t, t)` learns to predict the noise; the loss
is the DDPM "simple" objective (a reweighted ELBO):

.. math:: L = \mathbb E_{x_0, t, \epsilon}\ \| \epsilon - \epsilon_\theta(x_t, t) \|^2

**Sampling** (the reverse process): start from :math:`x_T \sim \mathcal N(0, I)` and step back,

.. math:: x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}
          \epsilon_\theta(x_t, t)\Big) + \sigma_t z,\quad z \sim \mathcal N(0, I),\
          \sigma_t^2 = \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t

Steps are numbered :math:`t = 1, \dots, T` everywhere (``loss``, ``eps``, ``q_sample``,
``noised``, ``sample``), and the schedule tensors (``betas``, ``alpha_bars``, ...) are indexed
by ``t``; their entry 0 means "no noise yet".

Data are standardized inside the model (``shift``/``scale`` buffers set from the training
data), so the noise schedule fits any 2D dataset. :func:`genlearn.train.train_diffusion`
trains it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .._checks import check_batch, check_positive_int, check_range, check_size, resolve_config
from .blocks import Standardizes, check_sizes, unconditional


@dataclass
class DiffusionConfig:
    x_dim: int = 2
    T: int = 100                           # number of noise steps
    hidden: tuple[int, ...] = (128, 128, 128)
    time_dim: int = 16                     # size of the sinusoidal embedding of t
    fourier: int = 4                       # sin/cos features of x_t at 2^0..2^(k-1): sharper samples
    beta_start: float = 1e-4
    beta_end: float = 0.1                  # with T = 100: alpha_bar_T ~ 0.006, pure noise

    def __post_init__(self):
        self.hidden = check_sizes("hidden", self.hidden)
        self.x_dim = check_size("x_dim", self.x_dim)
        self.T = check_size("T", self.T)
        self.time_dim = check_size("time_dim", self.time_dim)
        self.fourier = check_range("fourier", check_positive_int("fourier", self.fourier, allow_zero=True), 0, 16)
        check_range("beta_start", self.beta_start, 0, 1)
        check_range("beta_end", self.beta_end, 0, 1)
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {self.beta_start}, {self.beta_end}")

    @property
    def x_shape(self) -> tuple[int, ...]:
        """The shape of one example: (x_dim,)."""
        return (self.x_dim,)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of integer steps t (B,) -> (B, dim), as in the Transformer."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / max(half - 1, 1))
    angles = t.float()[:, None] * freqs[None, :]                     # (B, half)
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)
    return nn.functional.pad(emb, (0, dim - 2 * half))


class Diffusion(Standardizes, nn.Module):
    """The noise schedule, the noise-prediction network eps_theta(x_t, t), and the sampler."""

    def __init__(self, config: DiffusionConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(DiffusionConfig, config, overrides)
        # Steps are numbered t = 1..T, as in the paper; every schedule tensor is indexed by t,
        # and its entry 0 is "no noise yet" (beta_0 = 0, alpha_bar_0 = 1, sigma_0 = 0).
        betas = torch.cat([torch.zeros(1), torch.linspace(cfg.beta_start, cfg.beta_end, cfg.T)])
        alpha_bars = torch.cumprod(1.0 - betas, 0)
        self.register_buffer("betas", betas)                          # (T + 1,)
        self.register_buffer("alphas", 1.0 - betas)
        self.register_buffer("alpha_bars", alpha_bars)
        # Posterior variance of q(x_{t-1} | x_t, x_0): sharper samples than beta_t with few steps.
        sigmas = torch.zeros(cfg.T + 1)
        sigmas[1:] = (betas[1:] * (1 - alpha_bars[:-1]) / (1 - alpha_bars[1:])).sqrt()
        self.register_buffer("sigmas", sigmas)
        self.register_buffer("shift", torch.zeros(cfg.x_dim))
        self.register_buffer("scale", torch.ones(cfg.x_dim))
        self.register_buffer("freqs", 2.0 ** torch.arange(cfg.fourier, dtype=torch.float32))
        sizes = [cfg.x_dim * (1 + 2 * cfg.fourier) + cfg.time_dim, *cfg.hidden]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], cfg.x_dim))

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps_theta(x_t, t) for steps t (B,) in 1..T: the predicted noise, (B, D), in standardized units."""
        angles = (x_t[:, :, None] * self.freqs).flatten(1)                 # (B, D * fourier)
        feats = [x_t, angles.sin(), angles.cos(), timestep_embedding(t, self.config.time_dim)]
        return self.net(torch.cat(feats, dim=1))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps for steps t (B,) in 0..T
        (standardized units)."""
        ab = self.alpha_bars[t][:, None]                              # (B, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """The DDPM simple loss ||eps - eps_theta(x_t, t)||^2 on a batch of data x (B, D), batch
        mean, and its parts for the history (``loss``); ``y`` must be None (unconditional)."""
        unconditional(y)
        x = check_batch("x", x, (self.config.x_dim,))
        x0 = (x - self.shift) / self.scale
        t = torch.randint(1, self.config.T + 1, (len(x0),), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        loss = (noise - self.eps(self.q_sample(x0, t, noise), t)).square().sum(1).mean()
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def noised(self, x: torch.Tensor, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Data x (B, D) after t forward steps (t = 0: unchanged), in data units."""
        t = check_range("t", check_positive_int("t", t, allow_zero=True), 0, self.config.T)
        if t == 0:
            return x.clone()
        x0 = (x.to(self.device) - self.shift) / self.scale
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        tt = torch.full((len(x0),), t, device=x0.device, dtype=torch.long)
        return self.q_sample(x0, tt, noise) * self.scale + self.shift

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
               return_trajectory: bool = False, keep_every: int = 1):
        """``n`` samples (n, D) in data units; with ``return_trajectory`` also the list of
        x_T, ..., x_0 (every ``keep_every`` steps, always including both ends). ``y`` must be
        None (unconditional)."""
        n = check_positive_int("n", n)
        unconditional(y)
        keep_every = check_positive_int("keep_every", keep_every)
        was_training = self.training
        self.eval()
        x = torch.randn(n, self.config.x_dim, device=self.device, generator=generator)
        to_data = lambda z: (z * self.scale + self.shift).cpu()  # noqa: E731
        trajectory = [to_data(x)]
        for t in range(self.config.T, 0, -1):                         # x_t -> x_{t-1}
            tt = torch.full((n,), t, device=self.device, dtype=torch.long)
            a, ab, b = self.alphas[t], self.alpha_bars[t], self.betas[t]
            mean = (x - b / (1 - ab).sqrt() * self.eps(x, tt)) / a.sqrt()
            if t > 1:
                x = mean + self.sigmas[t] * torch.randn(x.shape, device=x.device, generator=generator)
            else:
                x = mean
            if return_trajectory and ((t - 1) % keep_every == 0):
                trajectory.append(to_data(x))
        self.train(was_training)
        out = x * self.scale + self.shift
        return (out, trajectory) if return_trajectory else out
