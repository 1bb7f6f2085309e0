"""The ``genlearn`` command: ``info``, ``train`` and ``tour``.

Examples::

    genlearn info
    genlearn train gan --data ring --out runs/ring
    genlearn train vae --data digits --epochs 20 --device cpu --out runs/vae
    genlearn tour

A run folder is complete or absent (:class:`genlearn.atomic.RunFolder`): ``--out`` is checked
before training, an earlier run is replaced only with ``--force``, and everything is
written beside it first and renamed into place at the end. Exit status: 0 done, 1 training
diverged or the run could not be written, 2 bad arguments, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from ._checks import argparse_type, check_positive, check_positive_int, check_seed
from .atomic import RunFolder, write_json
from .recipes import dataset_names, fit, kinds

INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)

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
    train.add_argument("--seed", type=argparse_type(check_seed, "seed"), default=0,
                       help="random seed, 0 to 4294967295 (default 0)")
    train.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    train.add_argument("--out", required=True, type=Path,
                       help="a new or empty folder for metrics.json, samples.png/.npy, model.pt; checked "
                            "before training; an earlier run there is refused unless --force")
    train.add_argument("--force", action="store_true",
                       help="replace an earlier run in --out, once the new one is complete")
    train.add_argument("--keep-interrupted", action="store_true",
                       help='on Ctrl-C, stop training, evaluate and save the partial run ("stopped": '
                            '"interrupted" in metrics.json) instead of discarding it')
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    tour = sub.add_parser("tour", help="train a VAE on digits and a GAN on the ring in about a minute")
    tour.add_argument("--out", type=Path, default=Path("genlearn-tour"))
    tour.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    tour.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _outputs(result) -> dict[str, Callable[[Path], object]]:
    """Each file of a run (:data:`genlearn.atomic.RUN_FILES`) and the function that writes it."""
    from .checkpoints import save_checkpoint
    from .plot import image_grid, save, scatter2d

    samples = result.samples.detach().float().cpu()
    test, title = result.test_data, f"{result.metrics['model'].upper()} samples, {result.test_data.name}"

    def plot(path: Path):
        if samples.dim() == 4:
            fig = image_grid(samples[:64], 8, title=title)
        else:
            fig = scatter2d(samples, reference=test.x[:2500], centers=getattr(test, "centers", None), title=title)
        save(fig, path)

    return {"samples.npy": lambda path: np.save(path, samples.numpy()),
            "samples.png": plot,
            "model.pt": lambda path: save_checkpoint(result.model, path, metadata=dict(result.metrics)),
            "metrics.json": lambda path: write_json(path, result.metrics)}


def _write_run(result, out: Path, force: bool) -> dict:
    """The run's files in ``out``, all or none (see :class:`genlearn.atomic.RunFolder`)."""
    with RunFolder(out, force=force) as run:
        for name, write in _outputs(result).items():
            write(run.tmp / name)
        run.commit()
    return result.metrics


@contextmanager
def _stop_on_ctrl_c():
    """While training: the first Ctrl-C asks the loop to stop at its next log point (an event
    a callback reads); a second one interrupts at once."""
    asked = threading.Event()

    def handler(signum, frame):
        asked.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("genlearn: stopping at the next log point (Ctrl-C again to abandon the run)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, previous)


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
    RunFolder(args.out, force=args.force).discard()  # --out is checked before any training
    train = dict(kind=args.kind, data_name=args.data, seed=args.seed, epochs=args.epochs, steps=args.steps,
                 max_seconds=args.max_seconds, device=args.device, progress=not args.quiet)
    if args.keep_interrupted:
        with _stop_on_ctrl_c() as asked:
            result = fit(**train, callbacks=[lambda history: asked.is_set()])
        if asked.is_set() and result.history.stopped == "callback":  # (not if it came after training)
            result.metrics["stopped"] = "interrupted"
    else:
        result = fit(**train)  # Ctrl-C: KeyboardInterrupt, one line from main(), nothing written
    if result.history.stopped == "diverged":
        print(f"genlearn: error: {result.history.message}; nothing written to {args.out}", file=sys.stderr)
        return 1
    metrics = _write_run(result, args.out, args.force)
    print(_summary(metrics))
    print(f"wrote {args.out}/metrics.json, samples.png, samples.npy, model.pt")
    if metrics["stopped"] == "interrupted":
        print(f"genlearn: interrupted after {metrics['steps']} steps; the partial run is in {args.out}",
              file=sys.stderr)
        return INTERRUPTED
    return 0


def cmd_tour(args) -> int:
    from .device import choose_device

    print(f"genlearn tour: device {choose_device(args.device)}")
    print("1/2  a VAE learns the 8x8 digits (Bernoulli likelihood on binarized pixels) ...")
    vae = fit("vae", "digits", max_seconds=25, device=args.device, progress=not args.quiet)
    print("     " + _summary(_write_run(vae, args.out / "vae_digits", force=True)))
    print("2/2  a GAN learns a ring of 8 Gaussians (non-saturating loss + R1 penalty) ...")
    gan = fit("gan", "ring", device=args.device, progress=not args.quiet)
    print("     " + _summary(_write_run(gan, args.out / "gan_ring", force=True)))
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
    except ValueError as err:  # a bad combination the parser could not see, an unusable --out
        print(f"genlearn: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # writing the run failed (a full disk): the earlier run is untouched
        print(f"genlearn: error: could not write the run ({err.strerror or err}); nothing was "
              f"written, an earlier run there is untouched", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genlearn: interrupted; nothing written (--keep-interrupted keeps a partial run)", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
