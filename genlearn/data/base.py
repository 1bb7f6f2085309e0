"""The dataset class shared by the image datasets."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .._checks import check_batch, check_count

MAX_DATA_BYTES = 2**28
"""The most a generator makes at once: 256 MB of float32 examples. ``sprites(10**9)`` is a
typo, not a wish for 4 TB, and is refused before anything is allocated."""


def check_n(name: str, n, item_shape: tuple[int, ...]) -> int:
    """A number of examples to generate: an integer from 1 to what fits in
    :data:`MAX_DATA_BYTES` as float32 examples of ``item_shape``."""
    high = max(1, MAX_DATA_BYTES // (4 * math.prod(item_shape)))
    return check_count(name, n, high, f"{MAX_DATA_BYTES >> 20} MB of float32 examples of shape {tuple(item_shape)}")


class ImageDataset(Dataset):
    """Images ``x`` (N, C, H, W) in [0, 1] with labels ``y`` (N,) and optional factors.

    ``factors`` (N, F) holds ground-truth generative factors where they are known (the
    sprites), named by ``factor_names``. Indexing returns ``(x[i], y[i])``.
    """

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor, *, binarized: bool,
                 class_names: tuple[str, ...] = (), factors: torch.Tensor | None = None,
                 factor_names: tuple[str, ...] = ()):
        check_batch("x", x)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        self.name, self.x, self.y = name, x, y
        self.binarized = binarized
        self.class_names = tuple(class_names)
        self.factors, self.factor_names = factors, tuple(factor_names)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def subset(self, n: int) -> "ImageDataset":
        """The first ``n`` images (the data is already shuffled by its seed); ``n`` from 1 to
        ``len(self)``: more than there are is an error, not silently all of them."""
        n = check_count("n", n, len(self), f"the {len(self):,} images of this {self.name} dataset")
        f = None if self.factors is None else self.factors[:n]
        return ImageDataset(self.name, self.x[:n], self.y[:n], binarized=self.binarized,
                            class_names=self.class_names, factors=f,
                            factor_names=self.factor_names)

    def __repr__(self) -> str:
        kind = "binary" if self.binarized else "grey"
        return f"ImageDataset({self.name!r}, n={len(self)}, shape={self.shape}, {kind})"


def as_tensors(data) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(x, y)`` from a genlearn dataset, a TensorDataset, a tensor, a numpy array, or an
    ``(x, y)`` pair."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return torch.from_numpy(data), None
    if isinstance(data, torch.Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return data[0], data[1]
    if isinstance(data, TensorDataset):
        t = data.tensors
        return t[0], (t[1] if len(t) > 1 else None)
    if isinstance(data, Dataset) and hasattr(data, "x"):
        return data.x, getattr(data, "y", None)
    raise TypeError(f"expected a dataset, a tensor, a numeric array or an (x, y) pair, got {type(data).__name__}")
