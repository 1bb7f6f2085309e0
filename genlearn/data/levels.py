r"""Tile-map game levels: rooms joined by corridors, generated, never downloaded.

A level is a binary image (N, 1, size, size): 1 a floor tile, 0 a wall. The player starts on
the top-left tile and must reach the bottom-right one, stepping up, down, left or right over
floor tiles. Each level is 3-5 rectangular rooms of 2-4 tiles a side, the first in the
top-left corner, the last in the bottom-right one, the others anywhere, each joined to the
next by an L-shaped corridor one tile wide: every level made here is playable by
construction. ``y`` is the number of rooms minus 3.

:func:`path_lengths` and :func:`playable` check any level, e.g. one a model generated: a
breadth-first search from the start, run on all levels at once (the set of tiles reachable in
``k`` steps grows by one step per round).
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import as_float32, check_at_least, check_batch, check_count, check_finite, check_seed
from .base import ImageDataset, check_n

SIZE = 12
MAX_SIZE = 64
ROOMS = (3, 5)          # rooms per level, inclusive
ROOM_SIDE = (2, 4)      # tiles a side, inclusive
CLASS_NAMES = ("3 rooms", "4 rooms", "5 rooms")


def _level(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    grid = np.zeros((size, size), dtype=np.float32)
    k = int(rng.integers(ROOMS[0], ROOMS[1] + 1))
    anchors = []
    for r in range(k):
        h, w = (int(v) for v in rng.integers(ROOM_SIDE[0], ROOM_SIDE[1] + 1, size=2))
        if r == 0:
            top, left = 0, 0
        elif r == k - 1:
            top, left = size - h, size - w
        else:
            top, left = int(rng.integers(size - h + 1)), int(rng.integers(size - w + 1))
        grid[top:top + h, left:left + w] = 1
        anchors.append((top + int(rng.integers(h)), left + int(rng.integers(w))))
    for (r0, c0), (r1, c1) in zip(anchors[:-1], anchors[1:]):
        if rng.random() < 0.5:   # along the row first, then the column
            grid[r0, min(c0, c1):max(c0, c1) + 1] = 1
            grid[min(r0, r1):max(r0, r1) + 1, c1] = 1
        else:
            grid[min(r0, r1):max(r0, r1) + 1, c0] = 1
            grid[r1, min(c0, c1):max(c0, c1) + 1] = 1
    return grid, k - ROOMS[0]


def levels(n: int = 2_000, seed: int = 0, *, size: int = SIZE) -> ImageDataset:
    """``n`` playable levels (N, 1, size, size), 1 = floor, labelled by number of rooms - 3."""
    size = check_count("size", size, MAX_SIZE, "tiles a side")
    size = check_at_least("size", size, 2 * ROOM_SIDE[1], "tiles", "two rooms side by side")
    n = check_n("n", n, (1, size, size))
    rng = np.random.default_rng(check_seed("seed", seed))
    grids, labels = zip(*(_level(rng, size) for _ in range(n)))
    x = torch.from_numpy(np.stack(grids)).unsqueeze(1)
    return ImageDataset("levels", x, torch.tensor(labels), binarized=True, class_names=CLASS_NAMES)


def path_lengths(levels, threshold: float = 0.5) -> torch.Tensor:
    """The fewest steps from the top-left tile to the bottom-right one over floor tiles
    (values above ``threshold``; four moves: up, down, left, right) for each level
    (N, 1, H, W) or (N, H, W): (N,) integers, -1 where no path exists (unplayable)."""
    x = torch.as_tensor(levels)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    x = check_finite("levels", as_float32(check_batch("levels", x)))
    if x.shape[1] != 1:
        raise ValueError(f"levels must have one channel (floor or wall), got shape {tuple(x.shape)}")
    floor = x[:, 0] > threshold                                   # (N, H, W)
    n, h, w = floor.shape
    reach = torch.zeros_like(floor)
    reach[:, 0, 0] = floor[:, 0, 0]
    length = torch.where(reach[:, -1, -1], 0, -1)
    for step in range(1, h * w):
        grown = reach.clone()
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown[:, :, 1:] |= reach[:, :, :-1]
        grown[:, :, :-1] |= reach[:, :, 1:]
        grown &= floor
        length[grown[:, -1, -1] & (length < 0)] = step
        if torch.equal(grown, reach):
            break
        reach = grown
    return length


def playable(levels, threshold: float = 0.5) -> torch.Tensor:
    """(N,) booleans: whether each level has a path from start to goal (see :func:`path_lengths`)."""
    return path_lengths(levels, threshold) >= 0
