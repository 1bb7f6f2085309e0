r"""Short procedural melodies as piano rolls: a tiny music dataset, generated, never downloaded.

A *piano roll* is a binary image: rows are pitches, columns are time steps, and a 1 says
"this pitch sounds at this step". Ours hold one note per step (a monophonic line) on the
C major scale over two octaves, so ``x`` is (N, 1, P, T) with exactly one 1 per column.

Each melody follows a simple song form, A A' B A'' over ``steps`` steps (4 bars of 4):

* a 4-step *motif*: a random walk over scale degrees, mostly stepwise (as most melodies are);
* A' repeats the motif transposed up a third or a fifth, B is a new random walk,
  A'' returns to the motif and ends on the tonic (C), which makes it sound finished.

Labels ``y`` give the transposition of A' (0: a third, 1: a fifth). Deterministic by seed.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_seed
from .base import ImageDataset, check_n

SCALE_MIDI = (60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83, 84)  # C4 .. C6, C major
N_PITCHES = len(SCALE_MIDI)
STEPS = 16
CLASS_NAMES = ("up a third", "up a fifth")
_MOVES = np.array([-2, -1, 0, 1, 2])
_MOVE_P = np.array([0.12, 0.3, 0.1, 0.33, 0.15])


def _walk(rng, start: int, n: int) -> list[int]:
    out, d = [], start
    for _ in range(n):
        out.append(d)
        d = int(np.clip(d + rng.choice(_MOVES, p=_MOVE_P), 0, N_PITCHES - 1))
    return out


def _melody(rng) -> tuple[list[int], int]:
    start = int(rng.choice([0, 2, 4, 7]))          # a note of the tonic chord
    motif = _walk(rng, start, 4)
    label = int(rng.integers(2))
    shift = (2, 4)[label]
    a2 = [min(d + shift, N_PITCHES - 1) for d in motif]
    b = _walk(rng, int(np.clip(a2[-1] + rng.choice([-1, 1]), 0, N_PITCHES - 1)), 4)
    end = 7 if motif[0] >= 4 else 0                # the tonic nearer the motif
    a3 = motif[:3] + [end]
    return motif + a2 + b + a3, label


def melodies(n: int = 2_000, seed: int = 0) -> ImageDataset:
    """``n`` melodies as binary piano rolls (N, 1, 15, 16): pitch rows (low at row 0), step columns."""
    n = check_n("n", n, (1, N_PITCHES, STEPS))
    rng = np.random.default_rng(check_seed("seed", seed))
    degrees, labels = zip(*(_melody(rng) for _ in range(n)))
    deg = torch.tensor(degrees)                                     # (N, T)
    x = torch.nn.functional.one_hot(deg, N_PITCHES).permute(0, 2, 1).float().unsqueeze(1)
    return ImageDataset("melodies", x.contiguous(), torch.tensor(labels), binarized=True,
                        class_names=CLASS_NAMES)


def to_pitches(roll: torch.Tensor) -> torch.Tensor:
    """MIDI pitch per step from piano rolls (N, 1, P, T) or (P, T): the loudest row per
    column (so model outputs with probabilities decode too). Returns (N, T) or (T,)."""
    r = torch.as_tensor(roll)
    single = r.dim() == 2
    if single:
        r = r[None, None]
    if r.dim() != 4 or r.shape[2] != N_PITCHES:
        raise ValueError(f"piano rolls must be (N, 1, {N_PITCHES}, T) or ({N_PITCHES}, T), got {tuple(r.shape)}")
    midi = torch.tensor(SCALE_MIDI)[r[:, 0].argmax(dim=1)]          # (N, T)
    return midi[0] if single else midi


def to_roll(pitches) -> torch.Tensor:
    """The inverse of :func:`to_pitches`: MIDI pitches (N, T) on the scale -> rolls (N, 1, P, T)."""
    p = torch.as_tensor(pitches).long()
    p = p[None] if p.dim() == 1 else p
    lookup = {m: i for i, m in enumerate(SCALE_MIDI)}
    bad = sorted({int(v) for v in p.unique()} - set(lookup))
    if bad:
        raise ValueError(f"pitches {bad} are not on the scale {SCALE_MIDI}")
    deg = p.clone().apply_(lambda m: lookup[m])
    return torch.nn.functional.one_hot(deg, N_PITCHES).permute(0, 2, 1).float().unsqueeze(1)
