"""The ``genlearn`` command: ``info``, ``train`` and ``tour``.

Examples::

    genlearn info
    genlearn train gan --data ring --out runs/ring
    genlearn train vae --data digits --epochs 20 --device cpu --out runs/vae
    genlearn tour
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from ._checks import argparse_type, check_positive, check_positive_int
from .recipes import dataset_names, fit, kinds

NEXT_STEPS = """\
Where to go next:
  jupyter lab lessons/00_welcome.ipynb      the course, lesson by lesson
  exercises/                                graded assignments (nbgrader)
  genlearn train --help                     train other models and datasets"""


class _Parser(argparse.ArgumentParser):
    """Bad arguments get one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(name: str, allow_zero: bool = False):
    return argparse_type(lambda n, v: check_positive_int(n, v, allow_zero=allow_zero), name)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genlearn", description="Reference VAEs and GANs for the genlearn course.")
    parser.add_argument("--version", action="version", version=f"genlearn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("info", help="torch version, the chosen device and why")

    train = sub.add_parser("train", help="train a model on a dataset and write metrics, samples and a checkpoint")
    train.add_argument("kind", choices=kinds())
    train.add_argument("--data", required=True, choices=dataset_names(), metavar="NAME",
                       help=f"one of: {', '.join(dataset_names())}")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_count("epochs"), help="VAE: passes over the training data")
    budget.add_argument("--steps", type=_count("steps"), help="GAN: generator steps")
    train.add_argument("--max-seconds", type=argparse_type(check_positive, "max_seconds", float, "a number"),
                       help="stop training after this many seconds")
    train.add_argument("--seed", type=_count("seed", allow_zero=True), default=0)
    train.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    train.add_argument("--out", required=True, type=Path, help="folder for metrics.json, samples.png/.npy, model.pt")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    tour = sub.add_parser("tour", help="train a VAE on digits and a GAN on the ring in about a minute")
    tour.add_argument("--out", type=Path, default=Path("genlearn-tour"))
    tour.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    tour.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _write_outputs(result, out: Path) -> dict:
    """metrics.json, samples.npy (data space), samples.png and model.pt in ``out``."""
    from .checkpoints import save_checkpoint
    from .plot import image_grid, save, scatter2d

    out.mkdir(parents=True, exist_ok=True)
    samples = result.samples.detach().float().cpu()
    np.save(out / "samples.npy", samples.numpy())
    test = result.test_data
    if samples.dim() == 4:
        fig = image_grid(samples[:64], 8, title=f"{result.metrics['model'].upper()} samples, {test.name}")
    else:
        fig = scatter2d(samples, reference=test.x[:2500], centers=getattr(test, "centers", None),
                        title=f"{result.metrics['model'].upper()} samples, {test.name}")
    save(fig, out / "samples.png")
    save_checkpoint(result.model, out / "model.pt", metadata={k: v for k, v in result.metrics.items()})
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    return result.metrics


def _summary(metrics: dict) -> str:
    keys = ("test_nelbo_nats", "test_iwae_nats", "modes_covered", "modes_total",
            "high_quality_fraction", "kl_to_uniform", "frechet_distance", "precision", "recall")
    parts = [f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}"
             for k in keys if k in metrics]
    return (f"{metrics['model']} on {metrics['data']}: {metrics['steps']} steps in "
            f"{metrics['train_seconds']:.1f} s on {metrics['device']}; " + ", ".join(parts))


def cmd_info(args) -> int:
    from .device import describe

    print(f"genlearn {__version__}")
    print(describe())
    return 0


def cmd_train(args) -> int:
    result = fit(args.kind, args.data, seed=args.seed, epochs=args.epochs, steps=args.steps,
                 max_seconds=args.max_seconds, device=args.device, progress=not args.quiet)
    metrics = _write_outputs(result, args.out)
    print(_summary(metrics))
    print(f"wrote {args.out}/metrics.json, samples.png, samples.npy, model.pt")
    return 0


def cmd_tour(args) -> int:
    from .device import choose_device

    print(f"genlearn tour: device {choose_device(args.device)}")
    print("1/2  a VAE learns the 8x8 digits (Bernoulli likelihood on binarized pixels) ...")
    vae = fit("vae", "digits", max_seconds=25, device=args.device, progress=not args.quiet)
    print("     " + _summary(_write_outputs(vae, args.out / "vae_digits")))
    print("2/2  a GAN learns a ring of 8 Gaussians (non-saturating loss + R1 penalty) ...")
    gan = fit("gan", "ring", device=args.device, progress=not args.quiet)
    print("     " + _summary(_write_outputs(gan, args.out / "gan_ring")))
    print(f"Images: {args.out}/vae_digits/samples.png, {args.out}/gan_ring/samples.png")
    print(NEXT_STEPS)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if getattr(args, "device", None):
        from .device import parse_device

        try:
            parse_device(args.device)
        except ValueError as err:
            parser.error(str(err))
    try:
        return {"info": cmd_info, "train": cmd_train, "tour": cmd_tour}[args.command](args)
    except ValueError as err:  # a bad combination the parser could not see
        print(f"genlearn: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
