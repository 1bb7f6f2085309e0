"""Two-dimensional toy distributions, generated on the fly and deterministic by seed.

``ring`` and ``grid`` are the Gaussian mixtures of the Unrolled-GAN, VEEGAN and PacGAN
papers: their mode centres are known, so mode coverage can be measured exactly
(:func:`genlearn.metrics.mode_coverage`). ``moons``, ``spiral`` and ``checkerboard`` have
no discrete modes (``centers is None``) and are for looking at.

Each is a function ``name(n, seed=0)`` like every dataset of the package, registered by name
in :mod:`.registry`: ``genlearn.data.toy2d(name, n, seed)`` and ``genlearn.data.load`` find it
there, as they find any other 2D dataset registered there.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from .._checks import check_seed
from .base import check_n


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """(K, 2) centres evenly spaced on a circle."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(values=(-4.0, -2.0, 0.0, 2.0, 4.0)) -> torch.Tensor:
    """(K, 2) centres on the square grid ``values x values`` (25 for the default)."""
    v = torch.tensor(values, dtype=torch.float32)
    xx, yy = torch.meshgrid(v, v, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


class Toy2D(Dataset):
    """A fixed sample ``x`` (N, 2) with labels ``y`` (N,), plus what generated it.

    ``y`` is the mixture component for ``ring``/``grid``, the moon for ``moons``, the arm
    for ``spiral`` and the square's colour class for ``checkerboard``.
    """

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor,
                 centers: torch.Tensor | None = None, std: float | None = None):
        self.name, self.x, self.y, self.centers, self.std = name, x, y, centers, std

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    @property
    def n_modes(self) -> int | None:
        return None if self.centers is None else len(self.centers)

    def __repr__(self) -> str:
        modes = "" if self.centers is None else f", modes={self.n_modes}, std={self.std}"
        return f"Toy2D({self.name!r}, n={len(self)}{modes})"


def _mixture(name, centers, std, n, gen):
    y = torch.randint(len(centers), (n,), generator=gen)
    x = centers[y] + std * torch.randn(n, 2, generator=gen)
    return Toy2D(name, x, y, centers, std)


def _moons(n, gen, noise=0.05):
    y = torch.randint(2, (n,), generator=gen)
    t = math.pi * torch.rand(n, generator=gen)
    upper = torch.stack([t.cos(), t.sin()], 1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)
    x = torch.where(y[:, None] == 0, upper, lower)
    x = (x - torch.tensor([0.5, 0.25])) * 2.0  # centred, roughly in [-3, 3]
    return Toy2D("moons", x + noise * torch.randn(n, 2, generator=gen), y)


def _spiral(n, gen, noise=0.05, arms=2):
    y = torch.randint(arms, (n,), generator=gen)
    t = torch.rand(n, generator=gen).sqrt() * 3 * math.pi  # uniform in arc length, roughly
    angle = t + y * (2 * math.pi / arms)
    r = t / math.pi  # radius grows to 3
    x = torch.stack([r * angle.cos(), r * angle.sin()], 1)
    return Toy2D("spiral", x + noise * torch.randn(n, 2, generator=gen), y)


def _checkerboard(n, gen, size=4, extent=4.0):
    # Rejection-free: pick a random "black" square, then a uniform point in it.
    cells = [(i, j) for i in range(size) for j in range(size) if (i + j) % 2 == 0]
    cell = torch.randint(len(cells), (n,), generator=gen)
    ij = torch.tensor(cells, dtype=torch.float32)[cell]
    side = 2 * extent / size
    x = -extent + side * (ij + torch.rand(n, 2, generator=gen))
    return Toy2D("checkerboard", x, cell)


def _points(n, seed) -> tuple[int, torch.Generator]:
    return check_n("n", n, (2,)), torch.Generator().manual_seed(check_seed("seed", seed))


def ring(n: int = 10_000, seed: int = 0) -> Toy2D:
    """8 Gaussians (std 0.02) evenly spaced on a circle of radius 2."""
    n, gen = _points(n, seed)
    return _mixture("ring", ring_centers(8, 2.0), 0.02, n, gen)


def grid(n: int = 10_000, seed: int = 0) -> Toy2D:
    """25 Gaussians (std 0.05) on the 5x5 grid {-4, -2, 0, 2, 4}^2."""
    n, gen = _points(n, seed)
    return _mixture("grid", grid_centers(), 0.05, n, gen)


def moons(n: int = 10_000, seed: int = 0) -> Toy2D:
    """Two interleaved half circles, centred (``y``: the moon)."""
    return _moons(*_points(n, seed))


def spiral(n: int = 10_000, seed: int = 0) -> Toy2D:
    """A two-armed spiral of radius 3 (``y``: the arm)."""
    return _spiral(*_points(n, seed))


def checkerboard(n: int = 10_000, seed: int = 0) -> Toy2D:
    """Uniform points on the black squares of a 4x4 board on [-4, 4]^2 (``y``: the square)."""
    return _checkerboard(*_points(n, seed))
