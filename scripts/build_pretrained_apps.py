"""Rebuild the pretrained checkpoints that lesson 09 loads (genlearn/pretrained/app_*.pt).

    python scripts/build_pretrained_apps.py            # all
    python scripts/build_pretrained_apps.py phantoms   # one

Why a checkpoint: a conditional conv VAE needs ~60 epochs on the phantoms before its
samples show the internal structures and lesions (the first ~15 epochs give only the
head's outline), which is several minutes on a 2-core CPU: beyond a 60 s lesson. The
lesson trains a short run itself to show the early blur, then loads this one.
Deterministic by seed; each file is < 1 MB.
"""

from __future__ import annotations

import argparse
import time

import torch

from genlearn.checkpoints import PRETRAINED_DIR, save_checkpoint
from genlearn.data.phantoms import phantoms
from genlearn.models import VAE, VAEConfig
from genlearn.train import train_vae

PHANTOMS = dict(n_train=2000, data_seed=0, epochs=60, batch_size=64, lr=3e-3, seed=0,
                model=dict(x_shape=(1, 32, 32), arch="conv", base_channels=16, latent_dim=16,
                           likelihood="gaussian", n_classes=2))


def build_phantoms(out_dir=PRETRAINED_DIR, device=None):
    s = PHANTOMS
    data = phantoms(s["n_train"], seed=s["data_seed"])
    torch.manual_seed(s["seed"])
    model = VAE(VAEConfig(**s["model"]))
    model.init_output_bias(data.x.mean(0))
    start = time.perf_counter()
    history = train_vae(model, data, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                        seed=s["seed"], device=device, progress=False)
    meta = {"data": "genlearn.data.phantoms.phantoms", **{k: v for k, v in s.items() if k != "model"},
            "train_elbo": history.last("elbo"), "train_seconds": round(time.perf_counter() - start, 1),
            "built_by": "scripts/build_pretrained_apps.py"}
    path = save_checkpoint(model, out_dir / "app_phantoms_vae.pt", meta)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, elbo {meta['train_elbo']:.1f}, {meta['train_seconds']} s")
    return path


BUILDERS = {"phantoms": build_phantoms}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"any of {', '.join(BUILDERS)} (default: all)")
    args = ap.parse_args()
    unknown = set(args.names) - set(BUILDERS)
    if unknown:
        ap.error(f"unknown checkpoint(s) {sorted(unknown)}: expected {', '.join(BUILDERS)}")
    for name in args.names or BUILDERS:
        BUILDERS[name]()
