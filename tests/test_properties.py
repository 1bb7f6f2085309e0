"""Property-based tests (Hypothesis): the public API gets generated bad inputs and answers with
its documented exceptions (``ValueError``/``TypeError``, ``CheckpointError`` for checkpoints,
exit status 2 with one line for the command line) whose messages say what was expected,
never a raw torch/numpy error, a traceback, or a number computed from NaN.

``pytest tests/test_properties.py --hypothesis-show-statistics`` prints how many examples
each function was given. Examples are derandomized (the same on every run) and few enough
for the fast tier.
"""

import contextlib
import io
import json
import math
import os
import pathlib
import re
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genlearn import data, metrics
from genlearn.checkpoints import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from genlearn.models import GAN, VAE, Autoencoder, Diffusion, GANConfig, VAEConfig
from genlearn.train import train_gan, train_vae
from test_checkpoints import forge

DOCUMENTED = (ValueError, TypeError)


def examples(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def says_what(err: BaseException) -> None:
    """A documented error with a message (not an empty one, not torch's or numpy's own)."""
    assert isinstance(err, DOCUMENTED), f"{type(err).__name__}: {err}"
    text = str(err)
    assert len(text) > 10, repr(err)
    for raw in ("mat1 and mat2", "Expected", "size mismatch", "LinAlgError", "division by zero",
                "list index out of range", "Overflow when unpacking"):
        assert raw not in text, text


def answers(call):
    """The call's result, or None after a documented error with a message."""
    try:
        return call()
    except DOCUMENTED as err:
        says_what(err)
        return None


# ---------------------------------------------------------------- values of the wrong kind

# integers: small ones, and some far beyond every bound (never a size worth allocating)
junk = st.one_of(st.none(), st.booleans(), st.integers(-10, 40), st.sampled_from([10**20, 2**63, -2**70, 2**21]),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                 st.lists(st.integers(-3, 9), max_size=4), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
# a budget (epochs, steps) or batch size never so large that a valid-looking one trains for ages
budget = st.one_of(st.integers(1, 3), junk.filter(
    lambda v: not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 40)))
small_sizes = st.one_of(junk, st.lists(st.integers(-2, 12), max_size=3).map(tuple))

tensors = st.builds(
    lambda shape, dtype, fill, scale: (torch.randn(shape, generator=torch.Generator().manual_seed(0)) * scale
                                       ).nan_to_num(nan=fill).to(dtype) if dtype != torch.bool else torch.zeros(shape, dtype=dtype),
    st.lists(st.integers(0, 9), min_size=0, max_size=4).map(tuple),
    st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64, torch.uint8, torch.bool]),
    st.sampled_from([0.0, math.nan]),
    st.sampled_from([1.0, 255.0, 1e30, math.inf, math.nan]),
)


# ---------------------------------------------------------------- data

@examples(60)
@given(name=st.one_of(st.sampled_from(data.dataset_names()), junk), split=st.one_of(st.just("train"), junk),
       seed=st.one_of(st.just(0), junk), n=st.one_of(st.integers(1, 40), junk.filter(lambda v: v is not None)))
def test_data_load(name, split, seed, n):
    loaded = answers(lambda: data.load(name, split, seed=seed, n=n))
    if loaded is not None:
        assert len(loaded.x) == n and bool(torch.isfinite(loaded.x.float()).all())


# ---------------------------------------------------------------- models

@examples(80)
@given(kind=st.sampled_from([VAE, GAN, Autoencoder, Diffusion]),
       field=st.sampled_from(["x_shape", "hidden", "latent_dim", "base_channels", "beta", "n_classes", "arch",
                              "likelihood", "loss", "r1_gamma", "T", "x_dim", "colour"]),
       value=small_sizes)
def test_model_configs(kind, field, value):
    model = answers(lambda: kind(**{field: value}))
    if model is not None:  # whatever was accepted builds a model that samples finite values
        sample = answers(lambda: model.sample(2))  # (a conditional model asks for labels)
        assert sample is None or bool(torch.isfinite(sample).all())


@examples(80)
@given(x=tensors, kind=st.sampled_from(["vae", "vae_conditional", "autoencoder", "gan"]))
def test_model_forward(x, kind):
    torch.manual_seed(0)
    if kind == "gan":
        gan = GAN(GANConfig(x_shape=(1, 8, 8), hidden=(8,), latent_dim=2))
        out = answers(lambda: gan.D(x))
    elif kind == "autoencoder":
        out = answers(lambda: Autoencoder(hidden=(8,), latent_dim=2).loss(x)[0])
    else:
        vae = VAE(VAEConfig(hidden=(8,), latent_dim=2, n_classes=3 if kind == "vae_conditional" else 0))
        y = torch.zeros(len(x), dtype=torch.long) if (x.dim() and kind == "vae_conditional") else None
        out = answers(lambda: vae.loss(x, y)[0])
    assert out is None or isinstance(out, torch.Tensor)


# ---------------------------------------------------------------- training loops, tiny budgets

@examples(30)
@given(x=tensors, epochs=budget, batch_size=budget,
       lr=st.one_of(st.just(1e-3), junk), likelihood=st.sampled_from(["bernoulli", "gaussian"]))
def test_train_vae(x, epochs, batch_size, lr, likelihood):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2, likelihood=likelihood))
    hist = answers(lambda: train_vae(vae, x[:16] if x.dim() else x, epochs=epochs, batch_size=batch_size,
                                     lr=lr, progress=False))
    if hist is not None:
        assert hist.stopped in ("finished", "diverged")
        assert (hist.stopped == "diverged") == bool(hist.message)


@examples(30)
@given(x=tensors, steps=budget, lr=st.one_of(st.just(2e-4), junk),
       seed=st.one_of(st.just(0), junk))
def test_train_gan(x, steps, lr, seed):
    torch.manual_seed(0)
    gan = GAN(GANConfig(x_shape=(1, 8, 8), hidden=(8,), latent_dim=2))
    hist = answers(lambda: train_gan(gan, x[:16] if x.dim() else x, steps=steps, batch_size=4, lr_g=lr,
                                     seed=seed, progress=False))
    if hist is not None:
        assert hist.stopped in ("finished", "diverged")


# ---------------------------------------------------------------- metrics

clouds = st.one_of(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=8),
               elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
    hnp.arrays(np.float64, st.tuples(st.integers(0, 12), st.integers(1, 3)),
               elements=st.floats(-1e3, 1e3, width=32)),
    junk)


@examples(60)
@given(real=clouds, fake=clouds, k=st.one_of(st.integers(1, 4), junk))
def test_precision_recall(real, fake, k):
    scores = answers(lambda: metrics.precision_recall(real, fake, k=k))
    if scores is not None:
        assert all(0 <= v <= 1 for v in scores.values())


@examples(60)
@given(a=clouds, b=clouds)
def test_frechet_distance(a, b):
    value = answers(lambda: metrics.frechet_distance(a, b))
    assert value is None or (math.isfinite(value) and value >= 0)


@examples(60)
@given(samples=clouds, centers=clouds, std=st.one_of(st.just(0.1), junk))
def test_mode_coverage(samples, centers, std):
    stats = answers(lambda: metrics.mode_coverage(samples, centers, std))
    if stats is not None:
        assert 0 <= stats["modes_covered"] <= stats["modes_total"] and math.isfinite(stats["kl_to_uniform"])


@examples(40)
@given(queries=clouds, reference=clouds)
def test_nearest_neighbour_distances(queries, reference):
    d = answers(lambda: metrics.nearest_neighbour_distances(queries, reference))
    assert d is None or bool(torch.isfinite(d).all())


@examples(40)
@given(x=tensors, k=st.one_of(st.just(2), junk))
def test_likelihood_bounds(x, k):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2))
    for value in (answers(lambda: metrics.negative_elbo(vae, x)), answers(lambda: metrics.iwae_bound(vae, x, k=k))):
        assert value is None or math.isfinite(value)


# ---------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def saved_vae(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(VAE(VAEConfig(hidden=(8,), latent_dim=2)), tmp_path_factory.mktemp("ckpt") / "vae.pt",
                           metadata={"data": "digits", "steps": 3, "scores": [0.5, None]})


@examples(40)
@given(blob=st.binary(max_size=300))
def test_load_checkpoint_of_random_bytes(blob):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.pt")
        with open(path, "wb") as f:
            f.write(blob)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


@examples(80)
@given(field=st.sampled_from(["x_shape", "hidden", "latent_dim", "arch", "likelihood", "beta", "n_classes",
                              "base_channels"]), value=small_sizes,
       part=st.sampled_from(["config", "state_dict", "metadata", "kind", "version", "format"]))
def test_load_checkpoint_of_changed_files(saved_vae, field, value, part):
    payload = read_checkpoint(saved_vae)
    if part == "config":
        payload["config"][field] = value
    elif part == "state_dict" and isinstance(value, tuple) and value and all(v >= 0 for v in value):
        payload["state_dict"]["dec.0.weight"] = torch.zeros(value)
    else:
        payload[part] = value
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.pt")
        try:
            forge(payload, path)  # with the digest of its new contents: the checks behind it decide
        except Exception:  # noqa: BLE001  values torch cannot save are not a loading question
            return
        try:
            model, _ = load_checkpoint(path)
        except CheckpointError as err:
            assert str(path) in str(err)
            return
        assert bool(torch.isfinite(model.sample(2)).all())


# plain metadata: what JSON holds, plus the numpy scalars a training loop hands over
plain_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.integers(-2**31, 2**31).map(np.int64), st.floats(width=32).map(np.float32),
    st.floats().map(np.float64), st.booleans().map(np.bool_))
plain_metadata = st.dictionaries(st.text(max_size=6), st.recursive(
    plain_leaves, lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                                          st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=12),
    max_size=5)
not_plain = st.sampled_from([np.zeros(2), torch.ones(1), {1, 2}, b"raw", object(), len, pathlib.Path("p"),
                             1 + 2j, np.datetime64("2026-01-01")])


def as_json(value) -> str:
    """What a checkpoint's metadata should read back as, compared through canonical JSON
    (which tells 1, 1.0 and True apart, and NaN from None)."""
    def plain(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v
    return json.dumps(plain(value), sort_keys=True)


@examples(60)
@given(metadata=plain_metadata, bad=st.one_of(st.none(), not_plain), where=st.text(max_size=4))
def test_checkpoint_metadata_round_trips_or_is_refused_naming_its_key(saved_vae, metadata, bad, where):
    model = load_checkpoint(saved_vae)[0]
    if bad is not None:
        metadata = {**metadata, where: [1, {"deep": bad}]}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.pt")
        if bad is not None:
            with pytest.raises(TypeError, match=re.escape(f"metadata[{where!r}][1]['deep'] is a")):
                save_checkpoint(model, path, metadata=metadata)
            assert os.listdir(folder) == []
            return
        save_checkpoint(model, path, metadata=metadata)
        assert as_json(load_checkpoint(path)[1]) == as_json(metadata)


@examples(80)
@given(damage=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8))
def test_damaged_checkpoints_are_refused_naming_the_file_or_load_unchanged(saved_vae, damage):
    """Random bytes of a saved file changed: loading it raises CheckpointError naming the file,
    or (the changes fell where they change nothing, or wrote the byte that was there) gives
    back exactly the weights and metadata that were saved."""
    blob = bytearray(saved_vae.read_bytes())
    for where, value in damage:
        blob[int(where * len(blob))] = value
    original = read_checkpoint(saved_vae)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.pt")
        with open(path, "wb") as f:
            f.write(bytes(blob))
        try:
            model, metadata = load_checkpoint(path)
        except CheckpointError as err:
            assert str(path) in str(err)
            return
    assert metadata == original["metadata"]
    state = model.state_dict()
    assert list(state) == list(original["state_dict"])
    for name, tensor in original["state_dict"].items():
        assert tensor.dtype == state[name].dtype and torch.equal(tensor, state[name]), name


# ---------------------------------------------------------------- the command line

FLAGS = ["train", "gan", "vae", "info", "tour", "--data", "ring", "digits", "--steps", "--epochs", "--seed",
         "--max-seconds", "--device", "--out", "--force", "--keep-interrupted", "--quiet", "-5", "0", "1e3",
         "99999999999999999999", "nan", "cpu", "tpu", "", "run"]


class Trained(Exception):
    """Reached training: the arguments were accepted."""


@examples(150)
@given(argv=st.lists(st.one_of(st.sampled_from(FLAGS), st.text(max_size=6)), max_size=9))
def test_command_line_arguments(argv, monkeypatch_session):
    from genlearn.cli import main

    err = io.StringIO()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        except Trained:
            return
        finally:
            os.chdir(cwd)
    lines = [line for line in err.getvalue().splitlines() if line.strip() and "Warning" not in line
             and not line.startswith("  ")]
    if code == 0:  # --help, --version, info
        return
    assert code == 2 and len(lines) == 1 and "error" in lines[0], (argv, code, err.getvalue())


@pytest.fixture(scope="module")
def monkeypatch_session():
    """Training and the tour are replaced by a marker: the property is about the arguments."""
    mp = pytest.MonkeyPatch()

    def trained(*args, **kwargs):
        raise Trained()

    mp.setattr("genlearn.cli.fit", trained)
    yield mp
    mp.undo()
