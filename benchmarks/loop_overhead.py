"""What genlearn's training loops cost over a bare PyTorch loop on the same model.

For each model, a bare loop (batches by index, forward, backward, step, nothing else) and
genlearn's loop (history, progress bar off, callbacks none, time-budget checks) run the
same number of steps on the same data, alternately, ``--repeats`` times; we report the
median time per step of each and the overhead in percent (target: < 5%). Both use the same
optimizer (:func:`genlearn.train.adam`) and the same arithmetic per step, so the difference
is the loop's bookkeeping alone.

    python benchmarks/loop_overhead.py [--steps 400] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from genlearn import recipes
from genlearn.device import get_device, is_accelerator, synchronize
from genlearn.models.gan_losses import d_loss, g_loss, r1_penalty
from genlearn.train import adam, train_gan, train_vae

RESULTS = Path(__file__).parent / "results"


def bare_vae(model, x, steps, batch_size, lr, device):
    opt = adam(model.parameters(), lr, (0.9, 0.999), device)
    gen = torch.Generator().manual_seed(0)
    n = len(x) - len(x) % batch_size
    synchronize(device)
    start = time.perf_counter()
    done = 0
    while done < steps:
        order = torch.randperm(len(x), generator=gen).to(device)
        for i in range(0, n, batch_size):
            loss, _ = model.loss(x[order[i:i + batch_size]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    synchronize(device)
    return (time.perf_counter() - start) / steps


def bare_gan(gan, x, steps, batch_size, lr, device):
    cfg = gan.config
    opt_g = adam(gan.G.parameters(), lr, (0.5, 0.999), device)
    opt_d = adam(gan.D.parameters(), lr, (0.5, 0.999), device)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        real = x[torch.randint(len(x), (batch_size,), device=device)]
        fake = gan.G(gan.noise(batch_size))
        scores = gan.D(torch.cat([real, fake.detach()]))
        loss_d = d_loss(cfg.loss, scores[:batch_size], scores[batch_size:])
        if cfg.r1_gamma > 0:
            loss_d = loss_d + cfg.r1_gamma * r1_penalty(gan.D, real)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        gan.D.requires_grad_(False)
        loss_g = g_loss(cfg.loss, gan.D(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        gan.D.requires_grad_(True)
        opt_g.step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def measure(name, steps, repeats, device):
    kind, data_name = name.split("-")
    settings = recipes.recipe(kind, data_name)["train"]
    data = recipes.load_data(kind, data_name)
    x = data.x.to(device)
    bare, ours = [], []
    for r in range(repeats):
        model = recipes.build(kind, data_name, seed=r).to(device)
        if kind == "vae":
            bs, lr = settings["batch_size"], settings["lr"]
            bare.append(bare_vae(model, x, steps, bs, lr, device))
            model = recipes.build(kind, data_name, seed=r)
            epochs = -(-steps // (len(x) // bs))
            h = train_vae(model, data, epochs=epochs, batch_size=bs, lr=lr, progress=False, device=device)
        else:
            bs, lr = settings["batch_size"], settings["lr_g"]
            bare.append(bare_gan(model, x, steps, bs, lr, device))
            model = recipes.build(kind, data_name, seed=r)
            h = train_gan(model, data, steps=steps, batch_size=bs, lr_g=lr, lr_d=lr, progress=False, device=device)
        ours.append(h.seconds / h.steps)
    b, o = statistics.median(bare), statistics.median(ours)
    return {"model": name, "bare_ms_per_step": round(1000 * b, 3), "genlearn_ms_per_step": round(1000 * o, 3),
            "overhead_percent": round(100 * (o / b - 1), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    rows = [measure(name, args.steps, args.repeats, device) for name in ("vae-digits", "gan-ring")]
    print("| model | bare loop ms/step | genlearn ms/step | overhead |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['bare_ms_per_step']} | {r['genlearn_ms_per_step']} | {r['overhead_percent']}% |")
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{device.type}" if is_accelerator(device) else ""
    (RESULTS / f"loop_overhead{suffix}.json").write_text(
        json.dumps({"device": str(device), "threads": args.threads, "steps": args.steps, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
