"""VAE on binarized digits: genlearn's recipe vs. a plain pytorch/examples-style MLP VAE.

Both get the same wall-clock training budget on the same binarized data and are scored by
the same held-out bounds (negative ELBO and IWAE k=64, nats per image, on the 360 test
images). The baseline is written out here in full, as in pytorch/examples/vae: one hidden
layer of 400, 20 latent dimensions, Adam 1e-3, batch 128, a DataLoader, no tricks.

    python benchmarks/vae_digits.py [--seconds 20] [--seeds 0 1 2] [--threads 2]
        [--baseline-steps N]

Seconds are only equal on a quiet machine. On a busy one, give the baseline a fixed number of
steps instead (``--baseline-steps``: what it makes in ``--seconds`` on a quiet machine, from
its ms per step), so that the comparison does not depend on the load; the recipe trains its
own default length (150 epochs) either way, within ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from genlearn import recipes
from genlearn.data import digits
from genlearn.device import get_device, is_accelerator
from genlearn.metrics import iwae_bound, negative_elbo
from genlearn.models import VAE, VAEConfig

RESULTS = Path(__file__).parent / "results"


class ExamplesVAE(nn.Module):
    """pytorch/examples/vae/main.py, with 64 input pixels instead of 784."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 64)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 64)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def train_baseline(seconds: float, seed: int, device, max_steps: int | None = None) -> tuple[VAE, int]:
    """The baseline trained for ``seconds`` (or exactly ``max_steps`` steps, if given)."""
    torch.manual_seed(seed)
    model = ExamplesVAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(digits("train").x), batch_size=128, shuffle=True)
    start, steps = time.perf_counter(), 0
    done = ((lambda: steps >= max_steps) if max_steps is not None
            else (lambda: time.perf_counter() - start >= seconds))
    while not done():
        for (x,) in loader:
            x = x.to(device)
            recon, mu, logvar = model(x)
            bce = F.binary_cross_entropy(recon, x.view(-1, 64), reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            opt.zero_grad()
            (bce + kld).backward()
            opt.step()
            steps += 1
            if done():
                break
    # Score it with genlearn's evaluator: copy the weights into the equivalent VAE.
    vae = VAE(VAEConfig(x_shape=(1, 8, 8), latent_dim=20, hidden=(400,))).to(device)
    w = model.state_dict()
    enc_w = torch.cat([w["fc21.weight"], w["fc22.weight"]])
    enc_b = torch.cat([w["fc21.bias"], w["fc22.bias"]])
    vae.enc_head[0].load_state_dict({"weight": w["fc1.weight"], "bias": w["fc1.bias"]})
    vae.enc_head[2].load_state_dict({"weight": enc_w, "bias": enc_b})
    vae.dec[0].load_state_dict({"weight": w["fc3.weight"], "bias": w["fc3.bias"]})
    vae.dec[2].load_state_dict({"weight": w["fc4.weight"], "bias": w["fc4.bias"]})
    return vae.eval(), steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None)
    ap.add_argument("--baseline-steps", type=int, default=None,
                    help="train the baseline for this many steps instead of --seconds (for a busy machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    test = digits("test")
    rows = []
    for seed in args.seeds:
        base_start = time.perf_counter()
        base, base_steps = train_baseline(args.seconds, seed, device, args.baseline_steps)
        base_seconds = round(time.perf_counter() - base_start, 1)
        result = recipes.fit("vae", "digits", seed=seed, max_seconds=args.seconds, device=device,
                             progress=False, n_eval=64)
        ours = result.model
        for name, model, steps in (("pytorch/examples VAE", base, base_steps),
                                   ("genlearn recipe", ours, result.history.steps)):
            seconds = base_seconds if model is base else round(result.history.seconds, 1)
            rows.append({"model": name, "seed": seed, "budget_seconds": args.seconds,
                         "train_seconds": seconds, "steps": steps,
                         "test_nelbo_nats": round(negative_elbo(model, test, seed=seed), 2),
                         "test_iwae_nats": round(iwae_bound(model, test, k=64, seed=seed), 2)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for name in ("pytorch/examples VAE", "genlearn recipe"):
        r = [row for row in rows if row["model"] == name]
        summary[name] = {k: round(sum(x[k] for x in r) / len(r), 2) for k in ("test_nelbo_nats", "test_iwae_nats")}
    out = {"device": str(device), "threads": args.threads, "baseline_steps": args.baseline_steps,
           "recipe": recipes.recipe("vae", "digits"), "rows": rows, "mean": summary,
           "torch": torch.__version__}
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{device.type}" if is_accelerator(device) else ""
    (RESULTS / f"vae_digits{suffix}.json").write_text(json.dumps(out, indent=2) + "\n")
    print("\n| model | test -ELBO (nats) | test IWAE k=64 (nats) |\n|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['test_nelbo_nats']} | {s['test_iwae_nats']} |")


if __name__ == "__main__":
    main()
