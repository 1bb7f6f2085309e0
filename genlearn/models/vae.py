r"""The variational autoencoder (Kingma & Welling, 2014), read top to bottom.

Notation (lesson 03):

* encoder  :math:`q(z|x) = \mathcal N(z;\ \mu(x),\ \mathrm{diag}\,\sigma^2(x))`, with
  ``mu`` and ``logvar`` = :math:`\log \sigma^2`;
* prior    :math:`p(z) = \mathcal N(0, I)`;
* decoder  :math:`p(x|z)`: Bernoulli with logits (binary pixels) or Gaussian with a learned
  scale (continuous data); optionally *autoregressive* Bernoulli pixels that also see the
  pixels before them in raster order, through one strictly lower-triangular linear map:

  .. math:: p(x|z) = \prod_i \mathrm{Bernoulli}\big(x_i;\ \sigma(\ell_i(z) + \textstyle\sum_{j<i} W_{ij} x_j)\big)

  (pixels are no longer independent given z: the latent carries the digit's shape, the links
  the strokes' local continuity; a smaller, cheaper cousin of MADE in lesson 12);
* the evidence lower bound, per example, in nats:

  .. math::
     \mathrm{ELBO}(x) = \underbrace{\mathbb E_{q(z|x)} \log p(x|z)}_{\text{recon}}
                        - \underbrace{\mathrm{KL}(q(z|x)\,\|\,p(z))}_{\text{kl}}
                        \le \log p(x)

* training minimizes :math:`-(\text{recon} - \beta\,\text{kl})`, averaged over the batch
  (``beta = 1`` is the ELBO; ``beta > 1`` is the beta-VAE of lesson 04).

Optionally conditional on a label ``y`` (a CVAE): ``q(z|x, y)`` and ``p(x|z, y)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import (check_batch, check_bool, check_choice, check_nonnegative, check_positive_int, check_size,
                       resolve_config)
from .blocks import ConvDown, ConvUp, MaskedLinear, check_common_fields, mlp, one_hot

LOG_2PI = math.log(2 * math.pi)

SAMPLE_CHUNK = 256  # images decoded at once by VAE.sample


@dataclass
class VAEConfig:
    x_shape: tuple[int, ...] = (1, 8, 8)   # (C, H, W) images or (D,) vectors
    latent_dim: int = 16
    arch: str = "mlp"                      # "mlp" | "conv" (square images of side 8, 16, 32, ...)
    hidden: tuple[int, ...] = (256, 256)   # MLP widths, encoder (the decoder mirrors them)
    base_channels: int = 16                # conv: channels of the first layer, doubling down
    likelihood: str = "bernoulli"          # "bernoulli" (binary data) | "gaussian"
    beta: float = 1.0                      # weight of the KL term in the training loss
    n_classes: int = 0                     # > 0: conditional VAE on labels 0..n_classes-1
    autoregressive: bool = False           # Bernoulli pixels also see the pixels before them

    def __post_init__(self):
        check_common_fields(self, ("mlp", "conv"))
        check_choice("likelihood", self.likelihood, ("bernoulli", "gaussian"))
        check_bool("autoregressive", self.autoregressive)
        if self.autoregressive and self.likelihood != "bernoulli":
            raise ValueError("autoregressive=True links binary pixels: it needs likelihood='bernoulli', "
                             f"got {self.likelihood!r}")
        self.n_classes = check_size("n_classes", self.n_classes, allow_zero=True)
        self.base_channels = check_size("base_channels", self.base_channels)
        check_nonnegative("beta", self.beta)

    @property
    def x_range(self) -> tuple[float, float] | None:
        """The values data may take: [0, 1] for a Bernoulli likelihood, any for a Gaussian."""
        return (0.0, 1.0) if self.likelihood == "bernoulli" else None


class ELBO(NamedTuple):
    """Per-example terms, each (B,), in nats: ``elbo = recon - kl``."""

    elbo: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


def kl_normal_std(mu: torch.Tensor, logvar: torch.Tensor, *, per_dimension: bool = False) -> torch.Tensor:
    r"""KL( N(mu, diag exp(logvar)) || N(0, I) ), summed over the latent dimensions.

    .. math:: \mathrm{KL} = \tfrac12 \sum_j \left(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\right)

    It is 0 exactly when mu = 0 and logvar = 0. Shapes: (B, Z) -> (B,); with
    ``per_dimension`` the terms of the sum, one per latent dimension: (B, Z).
    """
    terms = mu.square() + logvar.exp() - 1.0 - logvar  # (B, Z)
    return 0.5 * (terms if per_dimension else terms.sum(dim=-1))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A sample :math:`z = \mu + \sigma \odot \epsilon,\ \epsilon \sim \mathcal N(0, I)`.

    The randomness sits in ``eps``, outside the network, so gradients flow to mu and logvar.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log p(x|z) = \sum_i x_i \log \pi_i + (1 - x_i) \log(1 - \pi_i)`,
    with :math:`\pi = \mathrm{sigmoid}(\text{logits})`, summed per example: (B, ...) -> (B,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_log_likelihood(mean: torch.Tensor, log_sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log \mathcal N(x;\ \text{mean},\ \sigma^2 I) =
    \sum_i -\tfrac12 \left(\tfrac{x_i - \text{mean}_i}{\sigma}\right)^2 - \log\sigma - \tfrac12\log 2\pi`."""
    z = (x - mean) * torch.exp(-log_sigma)
    return (-0.5 * z.square() - log_sigma - 0.5 * LOG_2PI).flatten(1).sum(1)


class VAE(nn.Module):
    def __init__(self, config: VAEConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(VAEConfig, config, overrides)
        x_dim = math.prod(cfg.x_shape)
        c = cfg.n_classes
        if cfg.arch == "conv":
            # The label enters after the convolutions, beside the image features.
            self.enc_body = ConvDown(cfg.x_shape, cfg.base_channels)
            feat = self.enc_body.out_features
            self.enc_head = nn.Linear(feat + c, 2 * cfg.latent_dim)
            self.dec = ConvUp(cfg.latent_dim + c, cfg.x_shape, cfg.base_channels)
            out_layer = self.dec.out_layer
        else:
            self.enc_body = nn.Flatten()
            self.enc_head = mlp([x_dim + c, *cfg.hidden, 2 * cfg.latent_dim])
            self.dec = mlp([cfg.latent_dim + c, *reversed(cfg.hidden), x_dim])
            out_layer = self.dec[-1]
        self._out_layer = [out_layer]  # a plain list: not registered twice as a submodule
        # Gaussian likelihood: one learned log-scale for all pixels (the "sigma-VAE"),
        # so the reconstruction/KL balance is learned instead of hand-tuned.
        self.log_sigma = nn.Parameter(torch.zeros(())) if cfg.likelihood == "gaussian" else None
        # Autoregressive pixels: W (x_dim, x_dim), strictly lower triangular (pixel i reads
        # pixels j < i), zero at the start, so training begins from the plain VAE.
        self.pixel_links = None
        if cfg.autoregressive:
            self.pixel_links = MaskedLinear(torch.ones(x_dim, x_dim).tril(-1), bias=False)
            nn.init.zeros_(self.pixel_links.weight)

    # ----------------------------------------------------------------- the three parts
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """q(z|x[, y]): returns ``mu``, ``logvar``, each (B, Z)."""
        x = check_batch("x", x, self.config.x_shape)
        h = self.enc_body(x)  # (B, F)
        y1 = one_hot(y, self.config.n_classes, len(x))
        if y1 is not None:
            h = torch.cat([h, y1.to(h.device)], dim=1)
        mu, logvar = self.enc_head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)  # keeps exp(logvar) finite early in training

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z[, y]): the decoder's raw output (B, *x_shape): logits (Bernoulli; with
        ``autoregressive``, the part that comes from z) or mean (Gaussian)."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must be (B, {self.config.latent_dim}), got {tuple(z.shape)}")
        y1 = one_hot(y, self.config.n_classes, len(z))
        if y1 is not None:
            z = torch.cat([z, y1.to(z.device)], dim=1)
        return self.dec(z).view(len(z), *self.config.x_shape)

    def log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per example (B,), from the decoder output for z."""
        if self.config.likelihood == "bernoulli":
            if self.pixel_links is not None:  # + sum_{j<i} W_ij x_j: all pixels in one pass
                out = out + self.pixel_links(x.flatten(1)).view_as(out)
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(out, self.log_sigma, x)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's expected x, E[x|z], from its raw output (pixel probabilities or means).

        With ``autoregressive`` pixels, pixel by pixel in raster order, each pixel's
        probability computed from the probabilities before it (a deterministic, mean-field
        stand-in for the exact E[x|z], which would average over every draw of those pixels)."""
        if self.config.likelihood == "gaussian":
            return out
        if self.pixel_links is None:
            return torch.sigmoid(out)
        return self._pixel_by_pixel(out)

    def _pixel_by_pixel(self, out: torch.Tensor, generator: torch.Generator | None = None,
                        draw: bool = False) -> torch.Tensor:
        """Autoregressive pixels in raster order: probabilities (``draw=False``) or binary
        draws, each from the pixels already decided: x_dim sequential steps."""
        logits = out.flatten(1)                         # (B, D): the part from z
        w = self.pixel_links.masked_weight              # (D, D), W[i, j] = 0 for j >= i
        x = torch.zeros_like(logits)
        for i in range(logits.shape[1]):
            p = torch.sigmoid(logits[:, i] + x[:, :i] @ w[i, :i])
            x[:, i] = torch.bernoulli(p, generator=generator) if draw else p
        return x.view_as(out)

    # ----------------------------------------------------------------- the objective
    def elbo(self, x: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> ELBO:
        """One-sample Monte Carlo ELBO per example, split into reconstruction and KL."""
        x = check_batch("x", x, self.config.x_shape)
        mu, logvar = self.encode(x, y)                # (B, Z) each
        z = reparameterize(mu, logvar, generator)     # (B, Z)
        recon = self.log_likelihood(self.decode(z, y), x)  # E_q log p(x|z), one sample: (B,)
        kl = kl_normal_std(mu, logvar)                # KL(q(z|x) || p(z)), closed form: (B,)
        return ELBO(recon - kl, recon, kl)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """The training loss -(recon - beta * kl), batch mean, and its parts for the history."""
        terms = self.elbo(x, y)
        loss = -(terms.recon - self.config.beta * terms.kl).mean()
        return loss, {"loss": loss.detach(), "recon": terms.recon.mean().detach(),
                      "kl": terms.kl.mean().detach(), "elbo": terms.elbo.mean().detach()}

    # ----------------------------------------------------------------- using the model
    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, *, generator=None,
               temperature: float = 1.0, mean: bool = True) -> torch.Tensor:
        """``n`` new x from z ~ p(z): decoder means (or random draws with ``mean=False``)."""
        n = check_positive_int("n", n)
        device = self.device
        z = temperature * torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        if y is not None:
            y = torch.as_tensor(y, device=device).expand(n) if torch.as_tensor(y).dim() == 0 else y
        # decoded SAMPLE_CHUNK at a time: a conv decoder's activations for thousands of images at
        # once cost hundreds of MB (lesson 09's 2,000 phantoms: +200 MB at the peak, on Binder's 1 GB)
        out = torch.cat([self.decode(z[i:i + SAMPLE_CHUNK], None if y is None else y[i:i + SAMPLE_CHUNK])
                         for i in range(0, n, SAMPLE_CHUNK)])
        if not mean and self.pixel_links is not None:
            return self._pixel_by_pixel(out, generator, draw=True)
        x = self.mean(out)
        if mean:
            return x
        if self.config.likelihood == "bernoulli":
            return torch.bernoulli(x, generator=generator)
        return x + self.log_sigma.exp() * torch.randn(x.shape, generator=generator, device=device)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the encoder's mean: the model's best reconstruction of x."""
        mu, _ = self.encode(x, y)
        return self.mean(self.decode(mu, y))

    @torch.no_grad()
    def init_output_bias(self, x_mean: torch.Tensor) -> None:
        """Start the decoder at the data's mean image, skipping the "blank image" plateau
        that conv VAEs sit on for several epochs from the default initialization."""
        layer = self._out_layer[0]
        x_mean = x_mean.to(layer.bias.device).float()
        if self.config.likelihood == "bernoulli":
            x_mean = torch.logit(x_mean.clamp(1e-3, 1 - 1e-3))
        if isinstance(layer, nn.Linear):
            layer.bias.copy_(x_mean.reshape(-1))
        else:  # a conv: one bias per channel
            layer.bias.copy_(x_mean.reshape(self.config.x_shape[0], -1).mean(1))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
