"""Datasets: embedded (scikit-learn's digits) or generated (2D mixtures, sprites). Never downloaded."""

from __future__ import annotations

from .._checks import check_choice
from .base import ImageDataset
from .digits import digits
from .sprites import sprites
from .toy2d import TOY2D_NAMES, Toy2D, grid_centers, ring_centers, toy2d

IMAGE_NAMES = ("digits", "sprites")
DATASET_NAMES = TOY2D_NAMES + IMAGE_NAMES


def is_2d(name: str) -> bool:
    check_choice("dataset", name, DATASET_NAMES)
    return name in TOY2D_NAMES


def load(name: str, split: str = "train", *, seed: int = 0, n: int | None = None, **kwargs):
    """One entry point by name, used by the command line and the benchmarks.

    2D data: ``n`` points (default 10,000), a different seed per split.
    ``digits``: the fixed split, binarized (``binarize=False`` for grey levels).
    ``sprites``: 20,000 training / 2,000 test images, disjoint by seed.
    """
    check_choice("dataset", name, DATASET_NAMES)
    check_choice("split", split, ("train", "test"))
    offset = 0 if split == "train" else 10_007
    if name in TOY2D_NAMES:
        return toy2d(name, n or 10_000, seed + offset)
    if name == "digits":
        data = digits(split, **kwargs)
        return data if n is None else data.subset(n)
    return sprites(n or (20_000 if split == "train" else 2_000), seed + offset)


__all__ = [
    "DATASET_NAMES", "IMAGE_NAMES", "TOY2D_NAMES", "ImageDataset", "Toy2D", "digits",
    "grid_centers", "is_2d", "load", "ring_centers", "sprites", "toy2d",
]
