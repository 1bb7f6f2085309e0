"""Datasets: embedded (scikit-learn's digits) or generated (2D mixtures, sprites, patterns,
phantoms, melodies, a market, game levels, molecule strings). Never downloaded. Every one is
registered by name in :mod:`.registry` and loads with :func:`load`."""

from __future__ import annotations

from .base import ImageDataset
from .digits import digits
from .registry import DATASETS, DatasetInfo, dataset_info, dataset_names, load, register
from .sprites import sprites
from .toy2d import TOY2D_NAMES, Toy2D, grid_centers, ring_centers, toy2d

__all__ = [
    "DATASETS", "DatasetInfo", "ImageDataset", "TOY2D_NAMES", "Toy2D", "dataset_info", "dataset_names",
    "digits", "grid_centers", "load", "register", "ring_centers", "sprites", "toy2d",
]
