"""Do the library's default GANs hit the course's targets on the 2D mixtures?

Trains exactly what ``genlearn train gan --data NAME`` trains (``genlearn.recipes.fit``,
settings in ``genlearn.recipes.GAN_RECIPES``) and scores 2,500 samples with the
VEEGAN/PacGAN definitions (``genlearn.metrics.mode_coverage``). Targets:

* ring (8 Gaussians, radius 2, std 0.02): 8/8 modes, >= 95% high-quality samples (a perfect
  sampler of the ring gets 98.9%), and training in <= 30 s on 2 CPU threads, for seeds 0, 1
  and 2;
* grid (25 Gaussians on {-4,...,4}^2, std 0.05): 25/25 modes, >= 90% high-quality samples.

A sampler can buy high quality by shrinking each mode (truncation): ``spread`` is the RMS
distance of the high-quality samples to their mode's centre over the same for held-out real
data (1.0: as wide as the data; well below 1: modes squeezed). Where the recipe samples with
rejection (``GANConfig.rejection``), ``G alone`` scores the same generator on the same noise
without it.

    python benchmarks/gan_targets.py [--quick] [--threads 2] [--seeds 0 1 2] [--device D]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genlearn import recipes
from genlearn.device import get_device, is_accelerator
from genlearn.metrics import mode_coverage

RESULTS = Path(__file__).parent / "results"
TARGETS = {"ring": {"modes": 8, "hq": 0.95, "seconds": 30.0},
           "grid": {"modes": 25, "hq": 0.90, "seconds": None}}


def spread(samples: torch.Tensor, test) -> float:
    """RMS distance of the high-quality samples to their nearest centre, over the same for
    the held-out data (2,500 points of each)."""
    def rms(x):
        d = torch.cdist(x.double().cpu(), test.centers.double()).min(1).values
        return float(d[d <= 3 * test.std].square().mean().sqrt())
    return rms(samples) / rms(test.x[:len(samples)])


def run(name: str, seed: int, device) -> dict:
    result = recipes.fit("gan", name, seed=seed, device=device, progress=False)
    m = result.metrics
    model, test = result.model, result.test_data
    alone = {}
    if model.config.rejection > 0:  # the same noise as recipes.evaluate, no rejection
        gen = torch.Generator(device=model.device).manual_seed(seed + 1)
        plain = model.sample(len(result.samples), generator=gen, reject=False)
        alone = {**mode_coverage(plain, test.centers, test.std), "spread": spread(plain, test)}
    target = TARGETS[name]
    ok = (m["modes_covered"] >= target["modes"] and m["high_quality_fraction"] >= target["hq"]
          and (target["seconds"] is None or m["train_seconds"] <= target["seconds"]))
    return {"data": name, "seed": seed, "modes": m["modes_covered"], "modes_total": m["modes_total"],
            "hq_fraction": round(m["high_quality_fraction"], 4), "kl_to_uniform": round(m["kl_to_uniform"], 4),
            "spread": round(spread(result.samples, test), 3),
            "g_alone_hq_fraction": round(alone["high_quality_fraction"], 4) if alone else None,
            "g_alone_modes": alone.get("modes_covered"),
            "g_alone_spread": round(alone["spread"], 3) if alone else None, "seconds": m["train_seconds"], "steps": m["steps"], "meets_target": ok}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="seed 0 only")
    parser.add_argument("--data", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    seeds = [0] if args.quick else args.seeds
    rows = []
    print("| data | seed | modes | high quality | G alone | KL to uniform | spread | train s | target |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for name in args.data:
        for seed in seeds:
            r = run(name, seed, device)
            rows.append(r)
            alone = ("-" if r["g_alone_modes"] is None else
                     f"{r['g_alone_modes']}/{r['modes_total']}, {r['g_alone_hq_fraction']:.3f}")
            print(f"| {name} | {seed} | {r['modes']}/{r['modes_total']} | {r['hq_fraction']:.3f} | {alone} | "
                  f"{r['kl_to_uniform']:.3f} | {r['spread']:.2f} | {r['seconds']:.1f} | {'ok' if r['meets_target'] else 'MISSED'} |",
                  flush=True)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{device.type}" if is_accelerator(device) else ""
    out = RESULTS / f"gan_targets{suffix}.json"
    out.write_text(json.dumps({"device": str(device), "threads": args.threads, "targets": TARGETS,
                               "recipes": {n: recipes.recipe("gan", n) for n in args.data},
                               "runs": rows}, indent=2, default=list) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
