"""Datasets: embedded (scikit-learn's digits) or generated (2D mixtures, sprites, patterns,
phantoms, melodies, a market, game levels, molecule strings). Never downloaded. Every one is
registered by name in :mod:`.registry` and loads with :func:`load`; that registry is the only
list of datasets (:func:`dataset_names` reads it, by kind)."""

from __future__ import annotations

from .base import ImageDataset
from .digits import digits
from .registry import DATASETS, TEST_SEED_OFFSET, DatasetInfo, dataset_info, dataset_names, load, register, toy2d
from .sprites import sprites
from .toy2d import Toy2D, grid_centers, ring_centers

TOY2D_NAMES: tuple[str, ...] = dataset_names("2d")
"""The 2D datasets of the registry (kind ``"2d"``), read once when the package is imported;
``dataset_names("2d")`` also sees datasets registered later."""

__all__ = [
    "DATASETS", "DatasetInfo", "ImageDataset", "TEST_SEED_OFFSET", "TOY2D_NAMES", "Toy2D", "dataset_info",
    "dataset_names", "digits", "grid_centers", "load", "register", "ring_centers", "sprites", "toy2d",
]
