"""The dataset registry: every dataset genlearn can load by name, registered once.

Data loading (:func:`load`), the recipes, the feature spaces of the image metrics and the
command line all read this table; adding a dataset is one :func:`register` call here (see
CONTRIBUTING.md). An incomplete entry (no name, description, known kind or ``make``) is refused
when it is registered, with a message that says what is missing. Each entry's ``make(split, seed, n, **options)`` builds the data:

* generated datasets draw the test split from another seed (``seed +`` :data:`TEST_SEED_OFFSET`),
  so train and test never share a point; ``n`` defaults to the generator's own default;
* ``digits`` has a fixed split of the embedded scikit-learn digits (``seed`` is unused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._checks import check_callable, check_choice, check_count, check_positive_int, check_seed, check_text
from .digits import digits
from .levels import levels
from .market import market
from .melodies import melodies
from .molecules import molecules
from .patterns import patterns
from .phantoms import phantoms
from .sprites import sprites
from .toy2d import checkerboard, grid, moons, ring, spiral

KINDS = ("2d", "image", "series")
TEST_SEED_OFFSET = 10_007


@dataclass(frozen=True)
class DatasetInfo:
    """One registered dataset.

    ``kind``: ``"2d"`` points (N, 2), ``"image"`` (N, C, H, W) in [0, 1], ``"series"`` (N, T).
    ``feature_space``: the :mod:`genlearn.features` space its images are scored in (Frechet
    distance, precision, recall), or ``None``.
    """

    name: str
    kind: str
    make: Callable  # make(split, seed, n, **options) -> a dataset with .x (and .y)
    description: str
    feature_space: str | None = None

    def __post_init__(self):
        check_text("a dataset's name", self.name)
        what = f"dataset {self.name!r}"
        check_choice(f"kind (of {what})", self.kind, KINDS)
        check_callable(f"make of {what}", self.make)
        check_text(f"description of {what}", self.description)
        if self.feature_space is not None:
            check_text(f"feature_space of {what}", self.feature_space)


DATASETS: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add a dataset to the registry (names are unique)."""
    if not isinstance(info, DatasetInfo):
        raise TypeError(f"register takes a DatasetInfo(name, kind, make, description), got {type(info).__name__}")
    if info.name in DATASETS:
        raise ValueError(f"a dataset named {info.name!r} is already registered")
    DATASETS[info.name] = info
    return info


def dataset_info(name: str) -> DatasetInfo:
    check_choice("dataset", name, tuple(DATASETS))
    return DATASETS[name]


def dataset_names(kind: str | None = None) -> tuple[str, ...]:
    """Registered dataset names, optionally of one ``kind`` ("2d", "image", "series")."""
    if kind is not None:
        check_choice("dataset kind", kind, KINDS)
    return tuple(n for n, info in DATASETS.items() if kind is None or info.kind == kind)


def load(name: str, split: str = "train", *, seed: int = 0, n: int | None = None, **options):
    """Any registered dataset by name: the command line, recipes, features and benchmarks
    load through here. ``options`` go to the dataset's own function (e.g. ``binarize=False``)."""
    info = dataset_info(name)
    check_choice("split", split, ("train", "test"))
    seed = check_seed("seed", seed)
    if n is not None:
        n = check_positive_int("n", n)
    return info.make(split, seed, n, **options)


def toy2d(name: str, n: int = 10_000, seed: int = 0):
    """``n`` points of the registered 2D dataset ``name``, the same points for the same seed
    (its train split: ``load(name, "train", seed=seed, n=n)``)."""
    check_choice("2D dataset", name, dataset_names("2d"))
    return load(name, "train", seed=seed, n=n)


def _generated(make_n_seed: Callable, test_n: int | None = None) -> Callable:
    """``make(split, seed, n)`` for a generator ``f(n, seed=...)``: test data from another seed."""
    def make(split, seed, n, **options):
        n = n or (test_n if split == "test" else None)
        seed = seed + (TEST_SEED_OFFSET if split == "test" else 0)
        return make_n_seed(seed=seed, **options) if n is None else make_n_seed(n, seed=seed, **options)
    return make


def _digits(split, seed, n, **options):
    data = digits(split, **options)
    if n is None:
        return data
    return data.subset(check_count("n", n, len(data), f"the images of the digits' {split} split"))


register(DatasetInfo("ring", "2d", _generated(ring), "2D: 8 Gaussians on a circle (10,000 points)"))
register(DatasetInfo("grid", "2d", _generated(grid), "2D: 25 Gaussians on a 5x5 grid (10,000 points)"))
register(DatasetInfo("moons", "2d", _generated(moons), "2D: two interleaved half circles (10,000 points)"))
register(DatasetInfo("spiral", "2d", _generated(spiral), "2D: a two-armed spiral (10,000 points)"))
register(DatasetInfo("checkerboard", "2d", _generated(checkerboard),
                     "2D: points on the black squares of a 4x4 board (10,000 points)"))
register(DatasetInfo("digits", "image", _digits, "scikit-learn's 8x8 digits, embedded: 1,437 train / 360 test, "
                     "binarized (binarize=False: grey; size=16: upsampled)", feature_space="digits"))
register(DatasetInfo("sprites", "image", _generated(sprites, test_n=2_000),
                     "procedural 32x32 shapes with known factors (20,000 train / 2,000 test)",
                     feature_space="sprites"))
register(DatasetInfo("patterns", "image", _generated(patterns), "procedural 16x16 textile patterns with known factors"))
register(DatasetInfo("phantoms", "image", _generated(phantoms), "random-ellipse 32x32 'scans', half with a lesion"))
register(DatasetInfo("melodies", "image", _generated(melodies), "procedural melodies as 15x16 piano rolls"))
register(DatasetInfo("market", "series", _generated(market), "windows of simulated daily returns (GARCH)"))
register(DatasetInfo("levels", "image", _generated(levels), "procedural 12x12 game levels (rooms and corridors), "
                     "all playable"))
register(DatasetInfo("molecules", "series", _generated(molecules), "SMILES-like molecule strings (C, N, O, one "
                     "ring digit) as 16 characters of 3 bits"))
