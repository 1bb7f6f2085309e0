"""Rebuild the pretrained checkpoints that lesson 09 loads (genlearn/pretrained/app_*.pt).

    python scripts/build_pretrained_apps.py            # all
    python scripts/build_pretrained_apps.py phantoms   # one

Why a checkpoint: a conditional conv VAE needs ~60 epochs on the phantoms before its
samples show the internal structures and lesions (the first ~15 epochs give only the
head's outline), which is several minutes on a 2-core CPU: beyond a 60 s lesson. The
lesson trains a short run itself to show the early blur, then loads this one.
Deterministic by seed; each file is < 1 MB.

``app_market_gan.pt``: an MLP GAN (non-saturating loss with an R1 penalty, the recipe of
lesson 05) on the simulated market's raw return windows, whose scenarios lesson 09 backtests
against the VAEs'. 3,000 steps take ~30-50 s on 2 CPU cores: too long to train live beside
five other applications. No EMA generator: in trials an EMA of G (decay 0.999) shrank the
scenarios' spread to a third of the market's.
"""

from __future__ import annotations

import argparse
import time

import torch

from genlearn.checkpoints import PRETRAINED_DIR, load_checkpoint, save_checkpoint
from genlearn.data.market import market, stylized_facts
from genlearn.data.phantoms import phantoms
from genlearn.models import GAN, VAE, GANConfig, VAEConfig
from genlearn.train import train_gan, train_vae

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


MARKET = dict(n_windows=4000, window=32, data_seed=0, steps=3000, batch_size=256, lr=1e-3, seed=0,
              model=dict(x_shape=(32,), arch="mlp", latent_dim=16, hidden=(128, 128),
                         loss="nonsaturating", r1_gamma=0.1))


def build_market_gan(out_dir=PRETRAINED_DIR, device=None):
    s = MARKET
    data = market(s["n_windows"], window=s["window"], seed=s["data_seed"])
    torch.manual_seed(s["seed"])
    gan = GAN(GANConfig(**s["model"]))
    start = time.perf_counter()
    train_gan(gan, data, steps=s["steps"], batch_size=s["batch_size"], lr_g=s["lr"], lr_d=s["lr"],
              lr_decay=True, seed=s["seed"], device=device, progress=False)
    seconds = round(time.perf_counter() - start, 1)
    facts = stylized_facts(gan.sample(4000, generator=torch.Generator(gan.device).manual_seed(0)))
    meta = {"data": "genlearn.data.market.market", **{k: v for k, v in s.items() if k != "model"},
            "lr_decay": True, "facts_at_build": {k: round(v, 3) for k, v in facts.items()},
            "train_seconds": seconds, "built_by": "scripts/build_pretrained_apps.py"}
    path = save_checkpoint(gan, out_dir / "app_market_gan.pt", meta)
    load_checkpoint(path, expect="gan")  # proves it reads back with weights_only=True
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {meta['facts_at_build']}, {seconds} s")
    return path


BUILDERS = {"phantoms": build_phantoms, "market_gan": build_market_gan}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"any of {', '.join(BUILDERS)} (default: all)")
    args = ap.parse_args()
    unknown = set(args.names) - set(BUILDERS)
    if unknown:
        ap.error(f"unknown checkpoint(s) {sorted(unknown)}: expected {', '.join(BUILDERS)}")
    for name in args.names or BUILDERS:
        BUILDERS[name]()
