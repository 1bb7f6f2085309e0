r"""A plain (deterministic) autoencoder: the VAE's ancestor, for lesson 02.

Notation: an encoder :math:`z = f(x)` squeezes an image into a small code ``z`` (the
*bottleneck*), a decoder :math:`\hat x = g(z)` maps it back, and training minimizes the
reconstruction error, per example:

.. math::
   \mathcal L(x) = \sum_i \mathrm{BCE}(x_i, \hat x_i)
                 = -\sum_i x_i \log \hat x_i + (1 - x_i) \log(1 - \hat x_i)
   \quad\text{or}\quad \sum_i (x_i - \hat x_i)^2 .

Nothing asks the codes to follow any distribution, so ``z ~ N(0, I)`` fed to the decoder
(:meth:`Autoencoder.sample`) usually lands where no training code was: the reason a plain
autoencoder is a poor sampler, and the motivation for the VAE's KL term (lesson 03).

The same verbs as :class:`~genlearn.models.vae.VAE` (``encode``, ``decode``, ``loss``,
``reconstruct``, ``sample``), so :func:`genlearn.train.train_vae` trains it unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_batch, check_choice, check_positive_int, check_size, resolve_config
from .blocks import ConvDown, ConvUp, check_common_fields, mlp, unconditional


@dataclass
class AutoencoderConfig:
    x_shape: tuple[int, ...] = (1, 8, 8)   # (C, H, W) images in [0, 1] or (D,) vectors
    latent_dim: int = 8                    # the bottleneck
    arch: str = "mlp"                      # "mlp" | "conv" (square images of side 8, 16, 32, ...)
    hidden: tuple[int, ...] = (256, 256)   # MLP widths, encoder (the decoder mirrors them)
    base_channels: int = 16                # conv: channels of the first layer
    loss: str = "bce"                      # "bce" (pixels in [0, 1]) | "mse"

    def __post_init__(self):
        check_common_fields(self, ("mlp", "conv"))
        check_choice("loss", self.loss, ("bce", "mse"))
        self.base_channels = check_size("base_channels", self.base_channels)

    @property
    def x_range(self) -> tuple[float, float] | None:
        """The values data may take: [0, 1] for the cross-entropy loss, any for "mse"."""
        return (0.0, 1.0) if self.loss == "bce" else None


class Autoencoder(nn.Module):
    def __init__(self, config: AutoencoderConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(AutoencoderConfig, config, overrides)
        x_dim = math.prod(cfg.x_shape)
        if cfg.arch == "conv":
            body = ConvDown(cfg.x_shape, cfg.base_channels)
            self.enc = nn.Sequential(body, nn.Linear(body.out_features, cfg.latent_dim))
            self.dec = ConvUp(cfg.latent_dim, cfg.x_shape, cfg.base_channels)
        else:
            self.enc = nn.Sequential(nn.Flatten(), mlp([x_dim, *cfg.hidden, cfg.latent_dim]))
            self.dec = mlp([cfg.latent_dim, *reversed(cfg.hidden), x_dim])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = f(x): (B, *x_shape) -> (B, Z)."""
        return self.enc(check_batch("x", x, self.config.x_shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output g(z) (B, *x_shape): logits for "bce", pixel values for "mse"."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must be (B, {self.config.latent_dim}), got {tuple(z.shape)}")
        return self.dec(z).view(len(z), *self.config.x_shape)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """Images from the decoder's raw output."""
        return torch.sigmoid(out) if self.config.loss == "bce" else out

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Reconstruction error summed over pixels, batch mean; ``y`` must be None (unconditional)."""
        unconditional(y)
        x = check_batch("x", x, self.config.x_shape)
        out = self.decode(self.encode(x))  # (B, *x_shape)
        if self.config.loss == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            per_pixel = (out - x).square()
        loss = per_pixel.flatten(1).sum(1).mean()
        return loss, {"loss": loss.detach(), "recon_error": loss.detach()}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """g(f(x)) as images."""
        return self.mean(self.decode(self.encode(x)))

    @torch.no_grad()
    def sample(self, n: int, y=None, *, generator=None, temperature: float = 1.0, mean: bool = True):
        """Decode ``z ~ N(0, temperature^2 I)``, as a VAE would. An autoencoder never learned
        this prior, so expect poor images: that is the point of lesson 02.

        ``mean=False`` draws binary pixels from the decoded probabilities ("bce"); an "mse"
        autoencoder has no noise model to draw from, so it refuses."""
        n = check_positive_int("n", n)
        unconditional(y)
        if not mean and self.config.loss != "bce":
            raise ValueError("mean=False draws pixels from the decoder's Bernoulli probabilities; "
                             "an autoencoder with loss='mse' has no noise model: use mean=True")
        z = temperature * torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        x = self.mean(self.decode(z))
        return x if mean else torch.bernoulli(x, generator=generator)

    @torch.no_grad()
    def reconstruction_error(self, x: torch.Tensor, batch_size: int = 512) -> float:
        """Mean squared pixel error of the reconstructions, per image (comparable across losses)."""
        total = 0.0
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(self.device)
            total += float((self.reconstruct(xb) - xb).square().flatten(1).sum(1).sum())
        return total / len(x)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
