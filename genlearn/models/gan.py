r"""Generative adversarial networks (Goodfellow et al., 2014), read top to bottom.

A generator ``G`` maps noise :math:`z \sim \mathcal N(0, I)` to samples, so that
:math:`G(z) \sim p_g`; a discriminator ``D`` (a *critic* for WGAN) scores samples, and the two
play

.. math:: \min_G \max_D\ \mathbb E_{x \sim p_{data}} \log D(x) + \mathbb E_{z} \log(1 - D(G(z))).

The losses that implement this game and its variants are in :mod:`.gan_losses`.

Two architectures:

* ``mlp``: fully connected, for 2D mixtures and flattened 8x8 digits;
* ``dcgan`` (Radford et al., 2016): transposed convolutions with batch norm in G, strided
  convolutions with LeakyReLU in D (no batch norm in D, so gradient penalties stay valid).

Optional extras that made small GANs converge here (see ``genlearn.recipes``): an
exponential moving average (EMA) of G's weights, used for sampling; an R1 penalty or
spectral normalization in D; rejection sampling with D (Azadi et al., 2019): D's logit
estimates :math:`\log p_{data}(x) / p_g(x)`, so the samples D scores below nearly all real data
are where G puts mass the data does not have (between the modes of a mixture), and are drawn
again. Conditional GANs feed a one-hot label to G beside z and use a
projection discriminator (Miyato & Koyama, 2018): ``d(x, y) = w^T h(x) + e_y^T h(x)``.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn

from .._checks import (check_batch, check_choice, check_nonnegative, check_positive_int, check_size,
                       check_unit_interval, resolve_config)
from .blocks import ConvDown, ConvUp, check_common_fields, mlp, one_hot
from .gan_losses import LOSSES, d_loss, g_loss


@dataclass
class GANConfig:
    x_shape: tuple[int, ...] = (2,)            # (D,) vectors or (C, H, W) images in [0, 1]
    latent_dim: int = 16
    arch: str = "mlp"                          # "mlp" | "dcgan"
    hidden: tuple[int, ...] = (256, 256, 256)  # MLP widths of G and D
    base_channels: int = 32                    # dcgan: channels of D's first layer
    loss: str = "nonsaturating"                # see gan_losses.LOSSES
    gp_weight: float = 10.0                    # lambda of WGAN-GP (used by loss="wgan-gp")
    r1_gamma: float = 0.0                      # weight of the R1 penalty on D (0: off)
    spectral_norm: bool = False                # spectral normalization of D's layers
    n_classes: int = 0                         # > 0: conditional GAN
    rejection: float = 0.0                     # > 0: redraw samples D scores below all but this share of real data

    def __post_init__(self):
        check_common_fields(self, ("mlp", "dcgan"))
        check_choice("loss", self.loss, LOSSES)
        self.n_classes = check_size("n_classes", self.n_classes, allow_zero=True)
        check_unit_interval("rejection", self.rejection, "the share of real data D may score below the threshold")
        if self.rejection and self.n_classes:
            raise ValueError("rejection sampling is for unconditional GANs (n_classes=0)")
        self.base_channels = check_size("base_channels", self.base_channels)
        check_nonnegative("r1_gamma", self.r1_gamma)
        check_nonnegative("gp_weight", self.gp_weight)

    @property
    def is_image(self) -> bool:
        return len(self.x_shape) == 3


class Generator(nn.Module):
    """z (B, Z) [+ label] -> x (B, *x_shape). Images end in a sigmoid, so pixels lie in [0, 1]."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        n_in = cfg.latent_dim + cfg.n_classes
        if cfg.arch == "dcgan":
            self.net = ConvUp(n_in, cfg.x_shape, cfg.base_channels * 2)
        else:
            self.net = mlp([n_in, *cfg.hidden, math.prod(cfg.x_shape)])

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = check_batch("z", z, (self.cfg.latent_dim,))
        y1 = one_hot(y, self.cfg.n_classes, len(z))
        if y1 is not None:
            z = torch.cat([z, y1.to(z.device)], dim=1)
        x = self.net(z).view(len(z), *self.cfg.x_shape)
        return torch.sigmoid(x) if self.cfg.is_image else x


class Discriminator(nn.Module):
    """x (B, *x_shape) [+ label] -> one raw score per example (B,): a logit, or a critic value."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        sn = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda layer: layer)
        if cfg.arch == "dcgan":
            self.body = ConvDown(cfg.x_shape, cfg.base_channels, norm=False, wrap=sn)
            width = self.body.out_features
        else:
            width = cfg.hidden[-1]
            self.body = nn.Sequential(
                nn.Flatten(),
                mlp([math.prod(cfg.x_shape), *cfg.hidden], act=lambda: nn.LeakyReLU(0.2), wrap=sn),
                nn.LeakyReLU(0.2),
            )
        self.head = sn(nn.Linear(width, 1))
        self.embed = sn(nn.Linear(cfg.n_classes, width, bias=False)) if cfg.n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = check_batch("x", x, self.cfg.x_shape)
        h = self.body(x)                                   # (B, F)
        out = self.head(h).squeeze(1)                      # (B,)
        y1 = one_hot(y, self.cfg.n_classes, len(x))
        if y1 is not None:                                 # projection: + e_y . h(x)
            out = out + (self.embed(y1.to(h.device)) * h).sum(1)
        return out


class GAN(nn.Module):
    """A generator, a discriminator, and optionally an EMA copy of the generator."""

    def __init__(self, config: GANConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(GANConfig, config, overrides)
        self.G = Generator(cfg)
        self.D = Discriminator(cfg)
        self.G_ema: Generator | None = None
        if cfg.rejection > 0:  # D's score a sample must reach; NaN until calibrate_rejection
            self.register_buffer("accept_above", torch.tensor(float("nan")))

    # ----------------------------------------------------------------- EMA of G's weights
    def enable_ema(self) -> None:
        """Keep a running average of G: its samples are far less noisy than G's own."""
        if self.G_ema is None:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        r""":math:`\theta_{ema} \leftarrow \text{decay}\,\theta_{ema} + (1 - \text{decay})\,\theta_G`;
        buffers (batch-norm statistics) are copied."""
        if self.G_ema is None:
            raise RuntimeError("call enable_ema() first")
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def expect_state(self, keys) -> None:
        """Make room for the optional parts a saved ``state_dict`` with these ``keys`` holds
        (the EMA generator, ``G_ema.*``), so that loading it finds every tensor a home."""
        if any(k.startswith("G_ema.") for k in keys):
            self.enable_ema()

    # ----------------------------------------------------------------- rejection sampling
    @torch.no_grad()
    def calibrate_rejection(self, x_real: torch.Tensor, batch_size: int = 4096) -> float:
        """Set the score a sample must reach (with ``config.rejection`` > 0): the
        ``rejection``-quantile of D's logits on ``x_real``, so D would reject only that share
        of real data. Call it after training, on the training data; returns the threshold."""
        if self.config.rejection <= 0:
            raise RuntimeError("this GAN samples without rejection (config.rejection = 0)")
        x_real = check_batch("x_real", x_real, self.config.x_shape).to(self.device)
        scores = torch.cat([self.D(x_real[i:i + batch_size]) for i in range(0, len(x_real), batch_size)])
        self.accept_above.fill_(torch.quantile(scores.float(), self.config.rejection))
        return float(self.accept_above)

    def _redraw_rejected(self, G, x: torch.Tensor, generator, truncation, max_rounds: int = 50):
        """Keep the samples of ``x`` that D scores at least ``accept_above``; draw more until
        there are ``len(x)`` (at most ``max_rounds`` more draws; then the rest unfiltered)."""
        n, kept = len(x), []
        for _ in range(max_rounds):
            kept.append(x[self.D(x) >= self.accept_above])
            if sum(len(k) for k in kept) >= n:
                return torch.cat(kept)[:n]
            z = self.noise(n, generator)
            x = G(z.clamp(-truncation, truncation) if truncation is not None else z)
        have = sum(len(k) for k in kept)
        warnings.warn(f"rejection sampling: only {have} of {max_rounds * n} samples reached D's threshold; "
                      f"the other {n - have} are returned unfiltered", RuntimeWarning, stacklevel=3)
        return torch.cat([*kept, x[:n - have]])

    # ----------------------------------------------------------------- the objective
    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """Both players' losses (``config.loss``, no penalties) on real ``x`` (B, *x_shape) and as
        many fakes G(z): D's loss, the value of the game as D sees it, and the parts ``loss_d``
        and ``loss_g`` for a history. Training alternates the two updates
        (:class:`genlearn.train.GanStepper`); this scores a batch without updating either."""
        x = check_batch("x", x, self.config.x_shape)
        fake = self.G(self.noise(len(x), generator), y)         # (B, *x_shape)
        real_scores, fake_scores = self.D(x, y), self.D(fake, y)  # (B,) each
        loss_d = d_loss(self.config.loss, real_scores, fake_scores)
        loss_g = g_loss(self.config.loss, fake_scores)
        return loss_d, {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    # ----------------------------------------------------------------- using the model
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I): (n, Z) on the model's device."""
        n = check_positive_int("n", n)
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, *, generator=None, z=None,
               ema: bool = True, truncation: float | None = None, reject: bool = True) -> torch.Tensor:
        """``n`` samples in data space (the EMA generator's, where there is one).

        ``truncation`` clamps z to [-t, t] (the "truncation trick": less variety, higher fidelity).
        ``reject``: with ``config.rejection`` > 0 and a calibrated threshold, samples D scores
        below it are drawn again (never when ``z`` is given: those codes are the caller's).
        """
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        was_training = G.training
        G.eval()
        rejecting = (reject and z is None and self.config.rejection > 0
                     and not torch.isnan(self.accept_above))
        z = self.noise(n, generator) if z is None else z.to(self.device)
        if z.shape != (n, self.config.latent_dim):
            raise ValueError(f"z must be ({n}, {self.config.latent_dim}), got {tuple(z.shape)}")
        if truncation is not None:
            z = z.clamp(-truncation, truncation)
        if y is not None:
            y = torch.as_tensor(y, device=self.device)
            y = y.expand(n) if y.dim() == 0 else y
        x = G(z, y)
        if rejecting:
            x = self._redraw_rejected(G, x, generator, truncation)
        G.train(was_training)
        return x

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device
