"""Build the pretrained beta-VAEs that lesson 04 loads: conv VAEs on the sprites, one per beta.

A conv VAE on 20,000 sprites needs ~10 epochs (about 40-80 s each on 2 CPU cores) before
its latent traversals show clean factors: too slow to train three of them inside a 60 s
lesson, so they ship as small checkpoints (about 0.5 MB each) in ``genlearn/pretrained``:

    vae_sprites_beta1.pt, vae_sprites_beta4.pt

Run from the repository root (deterministic by seed; any device, the CPU is fine):

    python scripts/build_pretrained_vae.py [--epochs 10] [--betas 1 4] [--device auto]

About 1-2 minutes per model on a quiet 2-core CPU. On a busy machine set
``GENLEARN_NUM_THREADS=1``: with two threads competing for two cores it ran many times slower.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genlearn import recipes
from genlearn.checkpoints import PRETRAINED_DIR, load_checkpoint, save_checkpoint
from genlearn.data import sprites
from genlearn.metrics import negative_elbo
from genlearn.train import train_vae


def per_dim_kl(model, x: torch.Tensor) -> list[float]:
    """Average KL(q(z_j|x) || N(0, 1)) per latent dimension j, in nats."""
    with torch.no_grad():
        mu, logvar = model.encode(x.to(model.device))
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).mean(0)
    return [round(float(v), 3) for v in kl]


def build(beta: float, epochs: int, seed: int, device, out_dir: Path) -> Path:
    train, test = sprites(20_000, seed=0), sprites(2_000, seed=10_007)
    model = recipes.build("vae", "sprites", seed=seed, beta=float(beta))
    model.init_output_bias(train.x.mean(0))
    start = time.perf_counter()
    hist = train_vae(model, train, epochs=epochs, batch_size=128, lr=3e-3, seed=seed,
                     device=device, progress=False)
    seconds = time.perf_counter() - start
    metadata = {
        "dataset": "sprites", "beta": float(beta), "epochs": epochs, "seed": seed,
        "train_seconds": round(seconds, 1), "device": str(model.device),
        "test_nelbo_nats": round(negative_elbo(model, test), 2),
        "final_recon": round(hist.last("recon"), 2), "final_kl": round(hist.last("kl"), 2),
        "kl_per_dim": per_dim_kl(model, test.x),
        "built_by": "scripts/build_pretrained_vae.py",
    }
    path = save_checkpoint(model, out_dir / f"vae_sprites_beta{beta:g}.pt", metadata)
    load_checkpoint(path, expect="vae")  # proves it reads back with weights_only=True
    print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, {metadata}", flush=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=PRETRAINED_DIR)
    args = ap.parse_args()
    for beta in args.betas:
        build(beta, args.epochs, args.seed, args.device, args.out)


if __name__ == "__main__":
    main()
