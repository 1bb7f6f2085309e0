r"""Random-ellipse "phantoms": the synthetic test images of tomography research.

Since Shepp and Logan (1974), reconstruction methods are tested on *phantoms*: a head is
drawn as a sum of ellipses, each adding its own intensity. Ours are random versions of that
picture: a bright skull, darker brain tissue, a few internal structures of random size,
position, orientation and contrast, and, in half of the images, a small bright *lesion*
(``y = 1``): the "finding" a classifier trained on synthetic data would look for.

Every image is a sum over ellipses :math:`E_k` with intensities :math:`a_k`:

.. math:: x(u, v) = \mathrm{clip}\Big(\sum_k a_k\, \mathbf 1[(u, v) \in E_k],\ 0,\ 1\Big)

Deterministic by seed, vectorized: 2,000 images of 32x32 in well under a second. Nothing
here is real patient data, which is the point of the lesson that uses it (lesson 09).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_at_least, check_count, check_fraction, check_positive_int, check_seed
from .base import ImageDataset, check_n

MAX_SIZE = 1024  # pixels a side
CLASS_NAMES = ("no lesion", "lesion")
FACTOR_NAMES = ("lesion", "n_structures", "rotation", "lesion_x", "lesion_y")
MAX_STRUCTURES = 3


def _ellipses(params: torch.Tensor, size: int) -> torch.Tensor:
    """Render (B, K, 6) ellipses [cx, cy, a, b, angle, intensity] (unit-square coordinates
    in [-1, 1]) as a sum of intensities: (B, size, size)."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(grid, grid, indexing="ij")                      # (H, W)
    cx, cy, a, b, ang, val = (params[..., i, None, None] for i in range(6))  # (B, K, 1, 1)
    du, dv = u - cx, v - cy                                                # (B, K, H, W)
    c, s = ang.cos(), ang.sin()
    p, q = c * du + s * dv, -s * du + c * dv
    inside = (p / a).square() + (q / b).square() <= 1.0
    return (inside.float() * val).sum(1)


def phantoms(n: int = 2_000, seed: int = 0, *, size: int = 32, lesion_rate: float = 0.5,
             chunk: int = 128) -> ImageDataset:
    """``n`` grey phantoms (N, 1, size, size) in [0, 1]; ``y`` = 1 where a lesion is drawn.

    ``factors`` columns: lesion (0/1), number of internal structures, head rotation
    (radians), lesion centre x and y (in [-1, 1]; 0 without a lesion).
    """
    size = check_count("size", size, MAX_SIZE, "pixels a side")
    size = check_at_least("size", size, 8, "pixels")
    n = check_n("n", n, (1, size, size))
    chunk = check_positive_int("chunk", chunk)
    lesion_rate = check_fraction("lesion_rate", lesion_rate)
    gen = torch.Generator().manual_seed(check_seed("seed", seed))
    rand = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731

    # Head: skull (intensity 1) and brain (-0.75 on top of it, so 0.25 inside).
    rot = (rand(n) - 0.5) * 0.4                              # tilt, +- 0.2 rad
    ax_a, ax_b = 0.62 + 0.1 * rand(n), 0.78 + 0.12 * rand(n)
    skull = torch.stack([torch.zeros(n), torch.zeros(n), ax_a, ax_b, rot, torch.ones(n)], 1)
    brain = torch.stack([torch.zeros(n), 0.02 * torch.ones(n), ax_a * 0.88, ax_b * 0.9, rot,
                         -0.75 * torch.ones(n)], 1)

    # Internal structures: random ellipses well inside the brain, +- contrast.
    k = MAX_STRUCTURES
    n_struct = torch.randint(1, k + 1, (n,), generator=gen)
    used = (torch.arange(k)[None, :] < n_struct[:, None]).float()  # (n, k)
    r, t = 0.45 * rand(n, k).sqrt(), 2 * math.pi * rand(n, k)
    cx, cy = r * t.cos() * ax_a[:, None], r * t.sin() * ax_b[:, None]
    sa, sb = 0.12 + 0.18 * rand(n, k), 0.08 + 0.12 * rand(n, k)
    angle = math.pi * rand(n, k)
    sign = torch.where(rand(n, k) < 0.5, -1.0, 1.0)
    value = sign * (0.12 + 0.12 * rand(n, k)) * used
    structures = torch.stack([cx, cy, sa, sb, angle, value], 2)  # (n, k, 6)

    # The lesion: small and bright, somewhere in the brain.
    lesion = (rand(n) < lesion_rate).float()
    lr_, lt = 0.45 * rand(n).sqrt(), 2 * math.pi * rand(n)
    lx, ly = lr_ * lt.cos() * ax_a, lr_ * lt.sin() * ax_b
    ls = 0.11 + 0.05 * rand(n)
    lesion_e = torch.stack([lx, ly, ls, ls * (0.7 + 0.3 * rand(n)), math.pi * rand(n),
                            0.6 * lesion], 1)

    params = torch.cat([skull[:, None], brain[:, None], structures, lesion_e[:, None]], 1)
    x = torch.cat([_ellipses(params[i:i + chunk], size) for i in range(0, n, chunk)])
    x = x.clamp(0, 1).unsqueeze(1).contiguous()
    factors = torch.stack([lesion, n_struct.float(), rot, lx * lesion, ly * lesion], 1)
    return ImageDataset("phantoms", x, lesion.long(), binarized=False, class_names=CLASS_NAMES,
                        factors=factors, factor_names=FACTOR_NAMES)
