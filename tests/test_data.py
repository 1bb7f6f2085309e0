import math

import pytest
import torch

from genlearn import data
from genlearn.data.market import market
from genlearn.data.patterns import patterns
from genlearn.data.phantoms import phantoms
import importlib

sprites_mod = importlib.import_module("genlearn.data.sprites")

# Every registered dataset and its kind. CONTRIBUTING.md, "Add a dataset": add yours here.
EXPECTED_DATASETS = {
    "ring": "2d", "grid": "2d", "moons": "2d", "spiral": "2d", "checkerboard": "2d",
    "digits": "image", "sprites": "image", "patterns": "image", "phantoms": "image", "melodies": "image",
    "market": "series", "levels": "image", "molecules": "series",
}


@pytest.mark.parametrize("name", data.dataset_names("2d"))
def test_toy2d_is_deterministic_by_seed(name):
    a, b, c = data.toy2d(name, 500, seed=1), data.toy2d(name, 500, seed=1), data.toy2d(name, 500, seed=2)
    assert a.x.shape == (500, 2) and a.y.shape == (500,)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    assert torch.isfinite(a.x).all()


def test_ring_matches_the_papers():
    ring = data.toy2d("ring", 20_000, seed=0)
    assert ring.n_modes == 8 and ring.std == 0.02
    assert torch.allclose(ring.centers.norm(dim=1), torch.full((8,), 2.0), atol=1e-5)
    # every point sits within a few std of its own component's centre
    offsets = ring.x - ring.centers[ring.y]
    assert offsets.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.bincount(ring.y, minlength=8).min() > 2000


def test_grid_matches_the_papers():
    grid = data.toy2d("grid", 20_000, seed=0)
    assert grid.n_modes == 25 and grid.std == 0.05
    assert sorted(set(grid.centers[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    assert (grid.x - grid.centers[grid.y]).std().item() == pytest.approx(0.05, rel=0.05)


def test_unknown_toy_name_is_clear():
    with pytest.raises(ValueError, match="unknown 2D dataset 'rings'.*'ring', 'grid'"):
        data.toy2d("rings")
    with pytest.raises(ValueError, match="n must be >= 1"):
        data.toy2d("ring", 0)


def test_checkerboard_points_fall_on_black_squares():
    board = data.toy2d("checkerboard", 2000, seed=3)
    cells = torch.floor((board.x + 4) / 2).long()
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()


def test_digits_split_is_fixed_and_labelled():
    train, test = data.digits("train"), data.digits("test")
    assert len(train) == 1437 and len(test) == 360 and train.shape == (1, 8, 8)
    assert torch.equal(train.x, data.digits("train").x)
    assert set(train.y.tolist()) == set(range(10)) and set(test.y.tolist()) == set(range(10))
    # train and test are disjoint images from one 1797-image set
    assert len(data.digits("all")) == 1797


def test_digits_binarization_is_the_documented_threshold():
    grey, binary = data.digits("test", binarize=False), data.digits("test")
    assert grey.x.min() >= 0 and grey.x.max() <= 1 and not grey.binarized
    assert set(binary.x.unique().tolist()) == {0.0, 1.0} and binary.binarized
    assert torch.equal(binary.x, (grey.x >= 0.5).float())


def test_digits_upsampled_for_dcgans():
    x16 = data.digits("train", binarize=False, size=16)
    assert x16.shape == (1, 16, 16) and 0 <= x16.x.min() and x16.x.max() <= 1
    with pytest.raises(ValueError, match="size"):
        data.digits(size=12)
    with pytest.raises(ValueError, match="split"):
        data.digits("validation")


def test_sprites_deterministic_with_factors():
    a, b = data.sprites(300, seed=5), data.sprites(300, seed=5)
    assert a.x.shape == (300, 1, 32, 32) and torch.equal(a.x, b.x)
    assert a.factors.shape == (300, 5) and a.factor_names == ("shape", "scale", "rotation", "x", "y")
    assert torch.equal(a.y, a.factors[:, 0].long())
    assert set(a.x.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a.x, data.sprites(300, seed=6).x)


def test_sprite_factors_change_the_picture_as_they_should():
    base = torch.tensor([[0.0, 1.0, 0.0, 16.0, 16.0]])
    img = sprites_mod.render(base)[0, 0]
    # a square of half-width 0.8 * 8 = 6.4 px around 16.0 covers the pixel centres 10.5..21.5
    assert img.sum().item() == 12 * 12
    assert img[10:22, 10:22].all()
    moved = base.clone(); moved[0, 3] += 5
    assert torch.equal(sprites_mod.render(moved)[0, 0], torch.roll(img, 5, dims=1))
    smaller = base.clone(); smaller[0, 1] = 0.6
    assert sprites_mod.render(smaller).sum() < 0.5 * img.sum()
    turned = base.clone(); turned[0, 2] = math.pi / 4
    assert not torch.equal(sprites_mod.render(turned)[0, 0], img)
    shapes = base.repeat(3, 1); shapes[:, 0] = torch.tensor([0.0, 1.0, 2.0])
    areas = sprites_mod.render(shapes).sum(dim=(1, 2, 3))
    assert len(set(areas.tolist())) == 3


def test_sprites_stay_inside_the_frame():
    s = data.sprites(2000, seed=0)
    border = torch.cat([s.x[..., 0, :], s.x[..., -1, :], s.x[..., :, 0], s.x[..., :, -1]], dim=-1)
    assert border.sum() == 0
    assert (s.x.sum(dim=(1, 2, 3)) > 30).all()  # every sprite is visible


def test_load_by_name_and_errors():
    assert len(data.load("ring", "test", n=100)) == 100
    assert not torch.equal(data.load("ring", "train", n=50).x, data.load("ring", "test", n=50).x)
    assert data.load("digits", "test").name == "digits"
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        data.load("mnist")


def test_a_count_beyond_what_a_dataset_holds_or_should_make_is_refused_before_any_memory(monkeypatch):
    """Issue 26, case 6: load('ring', n=10**9) tried to allocate 8 GB and load('digits', n=10**9)
    silently returned 1,437 images. Every count is checked against its bound first."""
    def no_allocation(*args, **kwargs):
        raise AssertionError("allocated before the count was checked")

    monkeypatch.setattr(torch, "randn", no_allocation)
    monkeypatch.setattr(torch, "randint", no_allocation)
    for name, split, message in [
        ("ring", "train", r"n must be between 1 and 33,554,432 \(256 MB of float32 examples of shape \(2,\)\), got 1,000,000,000"),
        ("digits", "train", r"n must be between 1 and 1,437 \(the images of the digits' train split\), got 1,000,000,000"),
        ("digits", "test", r"n must be between 1 and 360 \(the images of the digits' test split\)"),
        ("sprites", "train", r"n must be between 1 and 65,536 \(256 MB of float32 examples of shape \(1, 32, 32\)\)"),
        ("melodies", "train", "n must be between 1 and"),
        ("market", "train", "n_windows must be between 1 and 2,097,152"),
    ]:
        with pytest.raises(ValueError, match=message):
            data.load(name, split, n=10**9)
    for call, error, message in [
        (lambda: data.toy2d("ring", True), TypeError, "n must be an integer, got True"),
        (lambda: data.digits("train").subset(2_000), ValueError, "n must be between 1 and 1,437"),
        (lambda: patterns(10, size=10**5), ValueError, r"size must be between 1 and 1,024 \(pixels a side\)"),
        (lambda: phantoms(10, seed=-1), ValueError, "seed must be >= 0, got -1"),
        (lambda: market(10, window=10**6), ValueError, "window must be between 1 and 4,096"),
    ]:
        with pytest.raises(error, match=message):
            call()
    monkeypatch.undo()
    assert len(data.load("digits", "train", n=1437)) == 1437 and len(data.load("ring", n=2.0)) == 2


def test_every_registered_dataset_loads_by_name_with_disjoint_splits():
    registered = {name: info.kind for name, info in data.DATASETS.items()}
    assert registered == EXPECTED_DATASETS, (
        "tests/test_data.py's EXPECTED_DATASETS must list every registered dataset with its kind "
        f"(CONTRIBUTING.md, 'Add a dataset'); the registry holds {registered}")
    # TOY2D_NAMES is read from the registry (kind "2d"), in registration order: no second list
    assert data.TOY2D_NAMES == data.dataset_names("2d") == tuple(n for n, k in registered.items() if k == "2d")
    for name in EXPECTED_DATASETS:
        info = data.dataset_info(name)
        train, test = data.load(name, "train", n=20), data.load(name, "test", n=20)
        assert len(train) == len(test) == 20, name
        assert not torch.equal(train.x, test.x), f"{name}: train and test must differ"
        shape = tuple(train.x.shape[1:])
        assert {"2d": lambda: shape == (2,), "image": lambda: len(shape) == 3,
                "series": lambda: len(shape) == 1}[info.kind](), f"{name} is {info.kind} but has shape {shape}"
    assert data.dataset_info("digits").feature_space == "digits"
    assert data.dataset_info("phantoms").feature_space is None
    assert len(data.load("sprites", "test")) == 2_000 and len(data.load("phantoms")) == 2_000


def test_the_registry_refuses_duplicates_and_unknown_kinds():
    with pytest.raises(ValueError, match="already registered"):
        data.register(data.DatasetInfo("ring", "2d", lambda split, seed, n: None, "again"))
    with pytest.raises(ValueError, match=r"unknown kind \(of dataset 'cube'\) '3d': expected one of '2d', 'image'"):
        data.DatasetInfo("cube", "3d", lambda split, seed, n: None, "no such kind")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        data.dataset_info("mnist")


def _make(split, seed, n):
    return data.toy2d("ring", n or 10, seed)


@pytest.mark.parametrize("fields, error, message", [
    # the mistake the old zip(TOY2D_NAMES, descriptions) dropped silently: a name without a description
    (("half-done", "2d", _make, ""), ValueError, "description of dataset 'half-done' is missing"),
    (("half-done", "2d", _make, None), TypeError, "description of dataset 'half-done' must be a non-empty string"),
    (("half-done", None, _make, "arms"), ValueError, r"unknown kind \(of dataset 'half-done'\) None: expected one of '2d'"),
    (("half-done", "2d", None, "arms"), TypeError, "make of dataset 'half-done' must be callable"),
    (("", "2d", _make, "arms"), ValueError, "a dataset's name is missing"),
])
def test_an_incomplete_registration_fails_loudly_and_registers_nothing(fields, error, message):
    with pytest.raises(error, match=message):
        data.register(data.DatasetInfo(*fields))
    assert "half-done" not in data.DATASETS and "" not in data.DATASETS
    with pytest.raises(TypeError, match="register takes a DatasetInfo"):
        data.register(("half-done", "2d", _make, "arms"))
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'description'"):
        data.DatasetInfo("half-done", "2d", _make)


def test_a_registered_2d_dataset_is_seen_wherever_2d_datasets_are_listed(monkeypatch):
    """The registry is the only list: toy2d, dataset_names("2d") and the widgets read it."""
    from genlearn.widgets.basic import SanityCheck

    info = data.DatasetInfo("ring-again", "2d", data.dataset_info("ring").make, "2D: the ring, registered twice")
    monkeypatch.setitem(data.DATASETS, info.name, info)
    assert data.dataset_names("2d")[-1] == "ring-again" and "ring-again" not in data.dataset_names("image")
    assert torch.equal(data.toy2d("ring-again", 30, seed=4).x, data.toy2d("ring", 30, seed=4).x)
    assert torch.equal(data.load("ring-again", "test", n=30).x,
                       data.toy2d("ring", 30, seed=data.TEST_SEED_OFFSET).x)
    widget = SanityCheck(dataset="ring-again", n=100)
    assert "ring-again" in widget.dataset.options and widget.state["x"].shape == (100, 2)
    with pytest.raises(ValueError, match="unknown 2D dataset 'digits'"):
        data.toy2d("digits")
