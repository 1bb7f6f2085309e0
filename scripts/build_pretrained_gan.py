"""Build the pretrained GANs that lessons 06 and 07 load: DCGANs on 16x16 digits.

Lesson 06 trains a DCGAN live for a few hundred steps (digits appear), and then loads a
longer-trained one to explore its latent space; lesson 07 loads a class-conditional DCGAN
(projection discriminator, one-hot label into G). Training these for 3,000 steps takes
1-3 minutes on 2 CPU cores: too slow inside a 60 s lesson, so they ship as small
checkpoints in ``genlearn/pretrained``:

    gan_digits_dcgan.pt   unconditional, the recipe's settings (``recipes.GAN_RECIPES["digits"]``)
    gan_digits_cgan.pt    the same with ``n_classes=10``

Lesson 07 compares how three losses cover the modes of the 2D ring (8 modes) and grid (25
modes). Training six GANs for 2,000 steps each costs 1-2 minutes on a quiet 2-core CPU, so
they ship too (about 0.3 MB each); the lesson measures their coverage itself:

    gan_{ring,grid}_{nonsaturating,r1,wgan-gp}.pt

Both are trained with an exponential moving average (EMA) of G's weights. To stay under
2 MB, the checkpoint stores the EMA weights *as* ``G`` and no separate ``G_ema`` (the
metadata says so with ``"G_is_ema": true``); D is kept so students can score images.

Run from the repository root (deterministic by seed; any device, the CPU is fine):

    python scripts/build_pretrained_gan.py [--which dcgan cgan ring_r1 ...] [--steps 3000]
        [--steps-2d 2000] [--device auto]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genlearn import recipes
from genlearn.checkpoints import PRETRAINED_DIR, load_checkpoint, save_checkpoint
from genlearn.train import train_gan

VARIANTS = {"dcgan": {}, "cgan": {"n_classes": 10}}

# The loss comparison of lesson 07: one small MLP GAN per (dataset, loss), each with the
# settings its paper recommends, the same width, batch and number of generator steps.
_MLP_2D = dict(x_shape=(2,), arch="mlp", latent_dim=16, hidden=(128, 128, 128))
COMPARISON = {
    # the textbook GAN: non-saturating loss, DCGAN's Adam settings, nothing else
    "nonsaturating": (dict(loss="nonsaturating"),
                      dict(lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999))),
    # + an R1 penalty on D's slope at real data, a higher lr annealed to 0 (the recipe's idea)
    "r1": (dict(loss="nonsaturating", r1_gamma=0.1),
           dict(lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999), lr_decay=True)),
    # WGAN-GP: a critic, lambda = 10, 2 critic steps per G step, Adam betas (0.5, 0.9)
    "wgan-gp": (dict(loss="wgan-gp", gp_weight=10.0),
                dict(lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.9), n_critic=2)),
}
COMPARISON_DATA = ("ring", "grid")


def ema_as_generator(gan) -> None:
    """Copy the EMA generator's weights into G and drop the EMA copy (halves the file)."""
    if gan.G_ema is not None:
        gan.G.load_state_dict(gan.G_ema.state_dict())
        gan.G_ema = None


def build(which: str, steps: int, seed: int, device, out_dir: Path) -> Path:
    overrides = VARIANTS[which]
    settings = recipes.recipe("gan", "digits")["train"]
    settings["steps"] = steps
    train = recipes.load_data("gan", "digits", "train")
    test = recipes.load_data("gan", "digits", "test")
    gan = recipes.build("gan", "digits", seed=seed, **overrides)
    start = time.perf_counter()
    hist = train_gan(gan, train, seed=seed, device=device, progress=False, **settings)
    seconds = time.perf_counter() - start
    scores, _ = recipes.evaluate(gan, test, n_eval=1000, seed=seed)
    ema_as_generator(gan)
    metadata = {
        "dataset": "digits", "size": 16, "variant": which, "steps": hist.steps, "seed": seed,
        "train": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
        "train_seconds": round(seconds, 1), "device": str(gan.device), "G_is_ema": True,
        "test_scores": {k: round(float(v), 4) for k, v in scores.items()},
        "built_by": "scripts/build_pretrained_gan.py",
    }
    path = save_checkpoint(gan, out_dir / f"gan_digits_{which}.pt", metadata)
    load_checkpoint(path, expect="gan")  # proves it reads back with weights_only=True
    print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, {metadata}", flush=True)
    return path


def build_comparison(data_name: str, loss: str, steps: int, seed: int, device, out_dir: Path) -> Path:
    from genlearn.data import toy2d
    from genlearn.metrics import mode_coverage
    from genlearn.models import GAN, GANConfig

    model_kw, train_kw = COMPARISON[loss]
    train, test = toy2d(data_name, 10_000, seed=0), toy2d(data_name, 2_500, seed=1)
    torch.manual_seed(seed)
    gan = GAN(GANConfig(**_MLP_2D, **model_kw))
    start = time.perf_counter()
    train_gan(gan, train, steps=steps, batch_size=256, seed=seed, device=device, progress=False,
              **train_kw)
    seconds = time.perf_counter() - start
    gen = torch.Generator(device=gan.device).manual_seed(seed + 1)
    stats = mode_coverage(gan.sample(2500, generator=gen), test.centers, test.std)
    metadata = {
        "dataset": data_name, "variant": loss, "steps": steps, "seed": seed, "batch_size": 256,
        "train": {k: (list(v) if isinstance(v, tuple) else v) for k, v in train_kw.items()},
        "train_seconds": round(seconds, 1), "device": str(gan.device),
        "coverage_at_build": {k: v for k, v in stats.items() if k != "counts"},
        "built_by": "scripts/build_pretrained_gan.py",
    }
    path = save_checkpoint(gan, out_dir / f"gan_{data_name}_{loss}.pt", metadata)
    load_checkpoint(path, expect="gan")
    print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, {metadata}", flush=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [*VARIANTS, *(f"{d}_{loss}" for d in COMPARISON_DATA for loss in COMPARISON)]
    ap.add_argument("--which", nargs="+", choices=names, default=names)
    ap.add_argument("--steps", type=int, default=3000, help="DCGAN steps (digits)")
    ap.add_argument("--steps-2d", type=int, default=2000, help="steps of the 2D comparison GANs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=PRETRAINED_DIR)
    args = ap.parse_args()
    for which in args.which:
        if which in VARIANTS:
            build(which, args.steps, args.seed, args.device, args.out)
        else:
            data_name, loss = which.split("_", 1)
            build_comparison(data_name, loss, args.steps_2d, args.seed, args.device, args.out)


if __name__ == "__main__":
    main()
