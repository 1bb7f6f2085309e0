r"""Procedural textile patterns: stripes, checks, polka dots and zigzags.

A small stand-in for fashion and textile design data. Each pattern is drawn from known
factors, so a model's latent space can be compared with the "design parameters":

============  ==============================================  =====================
factor        values                                          column of ``factors``
============  ==============================================  =====================
kind          0 stripes, 1 checks, 2 dots, 3 zigzag           0 (also the label y)
frequency     repeats across the image, uniform in [1.5, 4]   1
angle         orientation in radians, uniform in [0, pi)      2
phase         shift of the repeat: 0, or uniform in [0, 1)    3
thickness     ink coverage, uniform in [0.3, 0.7]             4
============  ==============================================  =====================

Pixels are grey in [0, 1] (soft edges), deterministic by seed. By default every pattern
starts its repeat at the image centre (``phase = 0``): a random phase turns each design into
a whole family of shifted copies, which a small MLP VAE could not learn within a lesson's
time budget (its latent code collapsed to the mean pattern); pass ``random_phase=True`` for
the harder version.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_at_least, check_count, check_seed
from .base import ImageDataset, check_n

MAX_SIZE = 1024  # pixels a side
KINDS = ("stripes", "checks", "dots", "zigzag")
FACTOR_NAMES = ("kind", "frequency", "angle", "phase", "thickness")
FREQUENCY_RANGE = (1.5, 4.0)
THICKNESS_RANGE = (0.3, 0.7)


def render_patterns(factors: torch.Tensor, size: int = 16, sharpness: float = 6.0) -> torch.Tensor:
    """Draw patterns from a (B, 5) factor tensor (see the module table): (B, 1, size, size)."""
    if factors.dim() != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must be (B, {len(FACTOR_NAMES)}), got {tuple(factors.shape)}")
    kind, freq, angle, phase, thick = (factors[:, i].view(-1, 1, 1) for i in range(5))
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5  # centred: rotations turn about the middle
    v, u = torch.meshgrid(grid, grid, indexing="ij")                 # (H, W) in [-0.5, 0.5]
    c, s = angle.cos(), angle.sin()
    a = freq * (c * u + s * v) + phase                               # along the repeat
    b = freq * (-s * u + c * v) + phase                              # across it
    tri = lambda t: 2 * (t - torch.floor(t + 0.5)).abs()  # noqa: E731  (triangle wave in [0, 1])
    stripes = 1 - tri(a)                                             # 1 on the stripe's centre line
    checks = torch.maximum(1 - tri(a), 1 - tri(b))
    dots = 1 - torch.sqrt(tri(a).square() + tri(b).square()) / math.sqrt(2)
    zigzag = 1 - tri(a + 0.5 * tri(b))
    field = torch.where(kind == 0, stripes, torch.where(kind == 1, checks,
                        torch.where(kind == 2, dots, zigzag)))
    return torch.sigmoid(sharpness * 2 * (field - (1 - thick))).unsqueeze(1)  # ink where field is high


def sample_pattern_factors(n: int, gen: torch.Generator, random_phase: bool = False) -> torch.Tensor:
    """(n, 5) factors drawn independently and uniformly (phase 0 unless ``random_phase``)."""
    kind = torch.randint(len(KINDS), (n,), generator=gen).float()
    f0, f1 = FREQUENCY_RANGE
    t0, t1 = THICKNESS_RANGE
    freq = f0 + (f1 - f0) * torch.rand(n, generator=gen)
    angle = math.pi * torch.rand(n, generator=gen)
    phase = torch.rand(n, generator=gen)
    if not random_phase:
        phase = torch.zeros(n)
    thick = t0 + (t1 - t0) * torch.rand(n, generator=gen)
    return torch.stack([kind, freq, angle, phase, thick], 1)


def patterns(n: int = 2_000, seed: int = 0, *, size: int = 16, random_phase: bool = False) -> ImageDataset:
    """``n`` textile patterns (N, 1, size, size) in [0, 1], labelled by kind, with factors."""
    size = check_count("size", size, MAX_SIZE, "pixels a side")
    size = check_at_least("size", size, 8, "pixels")
    n = check_n("n", n, (1, size, size))
    gen = torch.Generator().manual_seed(check_seed("seed", seed))
    factors = sample_pattern_factors(n, gen, random_phase)
    x = render_patterns(factors, size).contiguous()
    return ImageDataset("patterns", x, factors[:, 0].long(), binarized=False, class_names=KINDS,
                        factors=factors, factor_names=FACTOR_NAMES)
