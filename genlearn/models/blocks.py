"""Small building blocks shared by the VAEs and GANs: MLPs and conv stacks for 2^k images."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .._checks import check_choice, check_size


def check_sizes(name: str, sizes) -> tuple[int, ...]:
    """A tuple of layer or data sizes, each an integer >= 1."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"{name} must be a tuple of integers, got {sizes!r}")
    return tuple(check_size(f"{name}[{i}]", s) for i, s in enumerate(sizes))


def check_common_fields(config, archs: tuple[str, ...]) -> None:
    """The fields every model config shares: ``x_shape`` and ``hidden`` as int tuples, a
    ``latent_dim`` >= 1 and an ``arch`` among ``archs``; called by each config's __post_init__."""
    config.x_shape = check_sizes("x_shape", config.x_shape)
    config.hidden = check_sizes("hidden", config.hidden)
    if not config.x_shape:
        raise ValueError("x_shape must name at least one size, e.g. (2,) or (1, 8, 8); got ()")
    config.latent_dim = check_size("latent_dim", config.latent_dim)
    check_choice("arch", config.arch, archs)


class Standardizes:
    """For models that see standardized data: buffers ``shift`` and ``scale`` (registered by
    the model, so they travel in its state dict) set from the training set, ``(x - shift) / scale``."""

    @torch.no_grad()
    def fit_normalization(self, x: torch.Tensor) -> None:
        """Standardize data with the training set's mean and std (kept in the state dict)."""
        self.shift.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp_min(1e-6))


def mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU, wrap=lambda layer: layer) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last).

    ``wrap`` is applied to every Linear (e.g. ``nn.utils.parametrizations.spectral_norm``).
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(wrap(nn.Linear(n_in, n_out)))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight (out, in) is multiplied by a fixed 0/1 ``mask``: the
    connections of autoregressive models (MADE, the VAE's pixel links)."""

    def __init__(self, mask: torch.Tensor, bias: bool = True):
        super().__init__(mask.shape[1], mask.shape[0], bias=bias)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)

    @property
    def masked_weight(self) -> torch.Tensor:
        """The weight as the layer uses it: (out, in), zero where the mask is."""
        return self.weight * self.mask


def n_resamples(x_shape: tuple[int, ...]) -> int:
    """How many factor-2 resamplings take a square image down to 4x4 (8 -> 1, 32 -> 3)."""
    if len(x_shape) != 3 or x_shape[1] != x_shape[2]:
        raise ValueError(f"conv models need square (C, H, W) images, got {x_shape}")
    size = x_shape[1]
    steps = math.log2(size / 4)
    if size < 8 or steps != int(steps):
        raise ValueError(f"conv models need a side of 8, 16, 32, ...; got {size}")
    return int(steps)


class ConvDown(nn.Module):
    """(B, C, H, W) -> (B, F): stride-2 convolutions down to 4x4, channels doubling, flattened."""

    def __init__(self, x_shape, base_channels: int, act=lambda: nn.LeakyReLU(0.2),
                 norm: bool = True, wrap=lambda layer: layer):
        super().__init__()
        layers, c_in = [], x_shape[0]
        for i in range(n_resamples(x_shape)):
            c_out = base_channels * 2**i
            layers.append(wrap(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)))
            if norm and i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(act())
            c_in = c_out
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = c_in * 4 * 4

    def forward(self, x):
        return self.net(x)


class ConvUp(nn.Module):
    """(B, F) -> (B, C, H, W): a linear map to 4x4 feature maps, then transposed
    convolutions doubling the size and halving the channels. Returns pre-activation outputs."""

    def __init__(self, in_features: int, x_shape, base_channels: int):
        super().__init__()
        n_up = n_resamples(x_shape)
        c = base_channels * 2 ** (n_up - 1)
        self.start = (c, 4, 4)
        self.fc = nn.Sequential(nn.Linear(in_features, c * 16), nn.ReLU())
        layers = []
        for i in range(n_up):
            c_out = max(base_channels // 2, 8) if i == n_up - 1 else c // 2
            layers += [nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        layers.append(nn.Conv2d(c, x_shape[0], 3, padding=1))
        self.net = nn.Sequential(*layers)

    @property
    def out_layer(self) -> nn.Conv2d:
        return self.net[-1]

    def forward(self, h):
        return self.net(self.fc(h).view(-1, *self.start))


def unconditional(y) -> None:
    """The labels an unconditional model was given: only ``None`` is accepted."""
    if y is not None:
        raise ValueError("this model is unconditional: do not pass labels y (y must be None)")


def one_hot(y: torch.Tensor | None, n_classes: int, batch: int) -> torch.Tensor | None:
    """Labels (B,) as one-hot floats (B, n_classes); checks that they are there when needed."""
    if n_classes == 0:
        return unconditional(y)
    if y is None:
        raise ValueError(f"this model is conditional on {n_classes} classes: pass labels y")
    y = torch.as_tensor(y)
    if y.shape != (batch,):
        raise ValueError(f"labels y must have shape ({batch},), got {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels y must lie in 0..{n_classes - 1}, got {int(y.min())}..{int(y.max())}")
    return nn.functional.one_hot(y.long(), n_classes).float()


def mean_nll(log_p: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The loss of an exact-likelihood model (flow, MADE): -1/B sum_b log p(x_b) from the
    per-example log-likelihoods (B,), with its record ``nll`` (nats per example)."""
    nll = -log_p.mean()
    return nll, {"nll": nll.detach()}
