"""Tested default settings per model kind and dataset, and one function that trains and
evaluates by name.

The command line, ``genlearn tour``, the benchmarks and the lessons all start here, so a
setting that works is written down once. The numbers behind each choice are measured by
the scripts in ``benchmarks/`` (see ``benchmarks/README.md``). :data:`RECIPES` says, per
model kind of :data:`genlearn.models.MODEL_KINDS`, which function trains it, how its length
is counted, and the settings for each dataset of :data:`genlearn.data.DATASETS`.

The dataset registry is the only list of datasets: every dataset of kind ``"2d"`` gets the 2D
recipes below (read with ``dataset_names("2d")``, so a new 2D dataset trains by name and is
trained by ``tests/test_recipes.py``), and a recipe for a name the registry does not hold, or
one without its model settings or length, is refused when this module is imported.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ._checks import check_callable, check_choice, check_positive_int, check_seed
from . import data as datasets
from .features import feature_space_of, image_scores
from .metrics import iwae_bound, mode_coverage, negative_elbo
from .models import VAE, model_kind
from .train import History, train_gan, train_vae

def _every_2d_dataset(settings: dict) -> dict[str, dict]:
    """The same settings for every registered 2D dataset (the registry says which they are)."""
    return {name: settings for name in datasets.dataset_names("2d")}


_VAE_2D = {"model": dict(x_shape=(2,), arch="mlp", latent_dim=2, hidden=(128, 128),
                         likelihood="gaussian"),
           "train": dict(epochs=30, batch_size=128, lr=2e-3)}

VAE_RECIPES: dict[str, dict] = {
    # Binarized digits, Bernoulli likelihood (see genlearn.data.digits), 150 epochs (5-8 s on
    # 2 CPU threads). Autoregressive pixels (one masked 64 x 64 layer: each pixel also sees
    # the pixels before it) and an average of the weights at lr 2e-3 took the held-out -ELBO
    # from 17.9 to 17.0 nats at the same number of steps (benchmarks/README.md, "VAE on
    # binarized digits"); 300 epochs overfit.
    "digits": {"model": dict(x_shape=(1, 8, 8), arch="mlp", latent_dim=16, hidden=(256, 256),
                             likelihood="bernoulli", autoregressive=True),
               "train": dict(epochs=150, batch_size=64, lr=2e-3, ema_decay=0.999)},
    # Decoder bias at the mean image and lr 3e-3 skip the conv VAE's "blank image" plateau.
    "sprites": {"model": dict(x_shape=(1, 32, 32), arch="conv", latent_dim=10, base_channels=16,
                              likelihood="bernoulli"),
                "train": dict(epochs=8, batch_size=128, lr=3e-3)},
    **_every_2d_dataset(_VAE_2D),
}

# The GAN defaults for 2D data: non-saturating loss + R1 penalty on D every 4th step, a
# 2D latent, Adam with beta1 = 0 and linear learning-rate decay, large batches
# (benchmarks/gan_targets.py measures them; numbers in benchmarks/README.md). What moved the
# ring from 0-1 modes to 8/8 with >= 90% high-quality samples: the R1 penalty (modes), a
# latent as small as the data (fewer off-mode samples between modes), betas (0, 0.99) and
# batch 512 (sharper modes). An EMA of the generator's weights collapsed this MLP GAN.
# The plain variants stay available through GANConfig/train_gan arguments for the lessons.
_GAN_2D = {"model": dict(x_shape=(2,), arch="mlp", latent_dim=2, hidden=(256, 256, 256),
                         loss="nonsaturating", r1_gamma=0.1),
           "train": dict(steps=1500, batch_size=512, lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.99),
                         r1_every=4, lr_decay=True)}
# On the mixtures most samples that miss a mode lie far from every mode (G's continuous map
# crossing from one mode to the next), where D scores them below nearly all real data: drawing
# those again (D rejects 2% of real data) took the ring from 91-93% to 97-98% high quality.
_GAN_MIXTURE_MODEL = {**_GAN_2D["model"], "rejection": 0.02}
# 25 modes need longer at a lower rate: 2,000 steps covered 25/25 with 66% high quality
# (seed 0), 5,000 steps 92-95% (seeds 0-2, 71-85 s).
_GAN_GRID = {"model": _GAN_MIXTURE_MODEL,
             "train": {**_GAN_2D["train"], "steps": 5000, "lr_g": 1e-3, "lr_d": 1e-3}}

GAN_RECIPES: dict[str, dict] = {
    **_every_2d_dataset(_GAN_2D),
    "ring": {"model": _GAN_MIXTURE_MODEL, "train": _GAN_2D["train"]},
    "grid": _GAN_GRID,
    # Digits upsampled to 16x16 grey levels look like digits after ~500 DCGAN steps on a CPU.
    "digits": {"model": dict(x_shape=(1, 16, 16), arch="dcgan", latent_dim=32, base_channels=32,
                             loss="nonsaturating"),
               "train": dict(steps=1000, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                             ema_decay=0.99),
               "data": dict(binarize=False, size=16)},
    "sprites": {"model": dict(x_shape=(1, 32, 32), arch="dcgan", latent_dim=32, base_channels=32,
                              loss="nonsaturating"),
                "train": dict(steps=2000, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                              ema_decay=0.99)},
}


@dataclass(frozen=True)
class KindRecipes:
    """How one model kind trains: the training function, the name of its length argument,
    the recipe per dataset, and an optional ``prepare(model, train_set)`` run before training."""

    train: Callable[..., History]
    budget: str                                # "epochs" or "steps"
    by_data: dict[str, dict]                   # dataset -> {"model": ..., "train": ..., "data": ...}
    prepare: Callable | None = None

    def __post_init__(self):
        check_callable("train", self.train)
        check_choice("budget", self.budget, ("epochs", "steps"))
        for name, settings in self.by_data.items():
            check_recipe(name, settings, self.budget)


def check_recipe(data_name: str, settings, budget: str) -> dict:
    """One dataset's recipe, complete: a registered dataset, ``model`` and ``train`` settings,
    the length ``budget`` among the latter, and nothing but ``model``, ``train`` and ``data``."""
    check_choice("dataset of a recipe (register it in genlearn/data/registry.py first)", data_name,
                 datasets.dataset_names())
    if not isinstance(settings, dict):
        raise TypeError(f"the recipe for {data_name!r} must be a dict, got {type(settings).__name__}")
    missing = [key for key in ("model", "train") if not isinstance(settings.get(key), dict)]
    unknown = sorted(set(settings) - {"model", "train", "data"})
    if missing or unknown:
        raise ValueError(f"the recipe for {data_name!r} needs dicts 'model' and 'train' (and optionally "
                         f"'data'); missing: {missing or 'none'}, unknown: {unknown or 'none'}")
    if budget not in settings["train"]:
        raise ValueError(f"the recipe for {data_name!r} must say how long it trains: 'train' has no {budget!r}")
    return settings


def _start_at_the_mean_image(model, train_set) -> None:
    model.init_output_bias(train_set.x.mean(0))


RECIPES: dict[str, KindRecipes] = {
    "vae": KindRecipes(train_vae, "epochs", VAE_RECIPES, prepare=_start_at_the_mean_image),
    "gan": KindRecipes(train_gan, "steps", GAN_RECIPES),
}


def kinds() -> tuple[str, ...]:
    """The model kinds that have recipes (what ``genlearn train KIND`` accepts)."""
    return tuple(RECIPES)


def dataset_names(kind: str | None = None) -> tuple[str, ...]:
    """The datasets with a recipe for ``kind`` (for any kind if ``None``), in registry order."""
    kinds_ = [check_choice("model kind", kind, kinds())] if kind else kinds()
    names = {name for k in kinds_ for name in RECIPES[k].by_data}
    return tuple(n for n in datasets.dataset_names() if n in names)


def recipe(kind: str, data_name: str) -> dict:
    """A deep copy of the default ``{"model": ..., "train": ..., "data": ...}`` settings."""
    check_choice("model kind", kind, kinds())
    check_choice(f"dataset for a {kind.upper()} recipe", data_name, dataset_names(kind))
    return {"data": {}, **copy.deepcopy(RECIPES[kind].by_data[data_name])}


def load_data(kind: str, data_name: str, split: str = "train", seed: int = 0):
    """The dataset the recipe trains on (e.g. 16x16 grey digits for the DCGAN)."""
    return datasets.load(data_name, split, seed=seed, **recipe(kind, data_name)["data"])


def build(kind: str, data_name: str, seed: int = 0, **model_overrides):
    """A fresh model with the recipe's config (plus overrides), initialized from ``seed``."""
    cfg = {**recipe(kind, data_name)["model"], **model_overrides}
    registered = model_kind(kind)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return registered.model(registered.config(**cfg))


RUN_OVERHEAD_BYTES = 256_000
"""What a run writes beside its tensors: the PNG (19-46 kB measured), metrics.json and the
checkpoint's zip records and pickled config."""


def run_bytes(kind: str, data_name: str, n_eval: int = 2500) -> int:
    """About how many bytes a run of the recipe writes (checkpoint and samples), known before
    it trains: the model is built on the meta device (shapes only, no memory)."""
    settings = recipe(kind, data_name)
    with torch.device("meta"):
        model = build(kind, data_name)
        if settings["train"].get("ema_decay") is not None and hasattr(model, "enable_ema"):
            model.enable_ema()
    weights = sum(t.nbytes for t in model.state_dict().values())
    samples = check_positive_int("n_eval", n_eval) * 4 * math.prod(settings["model"]["x_shape"])
    return weights + samples + RUN_OVERHEAD_BYTES


@dataclass
class Result:
    model: torch.nn.Module
    history: History
    metrics: dict
    samples: torch.Tensor | None = field(repr=False)   # n_eval samples in data space (None: diverged)
    test_data: object = field(repr=False)


def fit(kind: str, data_name: str, *, seed: int = 0, epochs: int | None = None,
        steps: int | None = None, max_seconds: float | None = None, device=None,
        progress: bool = True, n_eval: int = 2500, **train_overrides) -> Result:
    """Train the recipe's model on ``data_name`` and evaluate it on held-out data.

    Metrics: ``device``, ``train_seconds``, ``steps``; VAEs: ``test_nelbo_nats`` and
    ``test_iwae_nats`` (k = 64); GANs on 2D mixtures: ``modes_covered``, ``modes_total``,
    ``high_quality_fraction``, ``kl_to_uniform``; GANs and VAEs on images: ``frechet_distance``,
    ``precision``, ``recall`` in the feature space of :mod:`genlearn.features`.

    A run whose loss stopped being finite (``history.stopped == "diverged"``, the reason in
    ``history.message``) is not evaluated: its metrics hold no scores and its samples are None.
    """
    settings = recipe(kind, data_name)
    seed = check_seed("seed", seed)
    kind_recipes = RECIPES[kind]
    for name, value in (("epochs", epochs), ("steps", steps)):
        if value is not None and name != kind_recipes.budget:
            users = [f"{k.upper()}s" for k, r in RECIPES.items() if r.budget == name]
            raise ValueError(f"--{name} applies to {' and '.join(users)}; "
                             f"{kind.upper()}s train for --{kind_recipes.budget}")
    check_positive_int("n_eval", n_eval)
    train_kw = {**settings["train"], **train_overrides}
    if epochs is not None:
        train_kw["epochs"] = check_positive_int("epochs", epochs)
    if steps is not None:
        train_kw["steps"] = check_positive_int("steps", steps)
    train_set = load_data(kind, data_name, "train", seed)
    test_set = load_data(kind, data_name, "test", seed)
    model = build(kind, data_name, seed)
    if kind_recipes.prepare is not None:
        kind_recipes.prepare(model, train_set)
    history = kind_recipes.train(model, train_set, seed=seed, device=device, max_seconds=max_seconds,
                                 progress=progress, **train_kw)
    metrics = {"model": kind, "data": data_name, "seed": seed, "device": str(model.device),
               "train_seconds": round(history.seconds, 3), "steps": history.steps,
               "stopped": history.stopped}
    if history.stopped == "diverged":
        return Result(model, history, metrics, None, test_set)
    scores, samples = evaluate(model, test_set, n_eval=n_eval, seed=seed)
    metrics.update(scores)
    return Result(model, history, metrics, samples, test_set)


@torch.no_grad()
def evaluate(model, test_set, *, n_eval: int = 2500, seed: int = 0) -> tuple[dict, torch.Tensor | None]:
    """The held-out metrics :func:`fit` reports, and the ``n_eval`` samples they were computed on."""
    out: dict = {}
    gen = torch.Generator(device=model.device).manual_seed(seed + 1)
    y = None
    if model.config.n_classes:  # conditional: every class in turn
        y = torch.arange(n_eval, device=model.device) % model.config.n_classes
    if isinstance(model, VAE):
        out["test_nelbo_nats"] = round(negative_elbo(model, test_set, seed=seed), 4)
        out["test_iwae_nats"] = round(iwae_bound(model, test_set, k=64, seed=seed), 4)
    samples = model.sample(n_eval, y, generator=gen)
    if getattr(test_set, "centers", None) is not None:
        stats = mode_coverage(samples, test_set.centers, test_set.std)
        stats.pop("counts")
        out.update(stats)
    elif samples.dim() == 4 and feature_space_of(test_set.name) is not None:
        space = feature_space_of(test_set.name)
        out.update({k: round(v, 4) for k, v in image_scores(test_set.x, samples, space).items()})
    return out, samples
