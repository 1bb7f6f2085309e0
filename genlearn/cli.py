"""The ``genlearn`` command: ``info``, ``train`` and ``tour``.

Examples::

    genlearn info
    genlearn train gan --data ring --out runs/ring
    genlearn train vae --data digits --epochs 20 --device cpu --out runs/vae
    genlearn tour

A run folder is complete or absent (:class:`genlearn.atomic.RunFolder`): ``--out`` is claimed
(a second run there is refused) and checked, free space included, before training; an
earlier run is replaced only with ``--force``; everything is written beside it first and
put in place at the end. Ctrl-C, SIGTERM and SIGHUP stop a run alike, with one line.
Exit status: 0 done, 1 training diverged or the run could not be written (a finished run
that could not be put in place is kept, and the line says where), 2 bad arguments or an
unusable ``--out``, 128 + the signal's number when a signal ended it (130 Ctrl-C, 143
SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import __version__
from ._checks import argparse_type, check_positive, check_positive_int, check_seed
from .atomic import STOP_SIGNALS, CommitError, RunFolder, write_json
from .recipes import dataset_names, fit, kinds, run_bytes

INTERRUPTED = 128 + signal.SIGINT  # 130: the shell's status for a process ended by Ctrl-C

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


def _write(result, run: RunFolder) -> dict:
    """The run's files into ``run`` (see :class:`genlearn.atomic.RunFolder`), then in place."""
    for name, write in _outputs(result).items():
        write(run.tmp / name)
    run.commit()
    return result.metrics


class Interrupted(KeyboardInterrupt):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) ended the command: exit status 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.status = 128 + signum


def _signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def _say(text: str, err: bool = False) -> None:
    """Print, unless the terminal is gone (after SIGHUP a write to it fails)."""
    try:
        print(text, file=sys.stderr if err else sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


class _StopSignals:
    """Ctrl-C, SIGTERM and SIGHUP while a command runs, all alike: each raises
    :class:`Interrupted`, and later ones are ignored while the command cleans up and says so
    (one line). With ``keep``, the first one only asks training to stop at its next log point
    (:meth:`asked` is the callback that reads it); a second one interrupts at once.

    A signal that was ignored when genlearn started stays ignored: ``nohup`` ignores SIGHUP so
    that a run survives its terminal, and a shell ignores SIGINT for its background jobs."""

    def __init__(self, keep: bool):
        self.keep, self.received, self.stopping = keep, None, False
        self.previous: dict = {}

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                handler = signal.getsignal(signum)
                if handler is not signal.SIG_IGN:
                    self.previous[signum] = handler
                    signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def _handle(self, signum, frame) -> None:
        if self.stopping:
            return
        if hasattr(signal, "SIGHUP") and signum == signal.SIGHUP:
            _quiet_lost_terminal()
        if self.keep and self.received is None:
            self.received = signum
            _say(f"genlearn: {_signal_name(signum)}: stopping at the next log point "
                 f"({_signal_name(signum)} again to abandon the run)", err=True)
            return
        self.stopping = True
        raise Interrupted(signum)

    def asked(self, history=None) -> bool:
        """The training callback: True once a first signal asked to stop."""
        return self.received is not None


def _quiet_lost_terminal() -> None:
    """After a hangup, output to the lost terminal would fail: send it to /dev/null instead."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


def _interrupted(stop: Interrupted, run: RunFolder | None) -> int:
    """One line for a run that a signal ended, saying what is on disk; its exit status."""
    name = _signal_name(stop.signum)
    if run is not None and run.committed:
        _say(f"genlearn: interrupted ({name}) after the run was complete: it is in {run.out}", err=True)
    elif run is not None and run.kept is not None:
        _say(f"genlearn: interrupted ({name}); the finished run is kept in {run.kept}", err=True)
    else:
        how = "" if stop.signum == signal.SIGINT else f" ({name})"
        _say(f"genlearn: interrupted{how}; nothing written (--keep-interrupted keeps a partial run)", err=True)
    return stop.status


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


def cmd_train(args, stop: _StopSignals) -> int:
    # --out is claimed and checked (room for the run's known size included) before any training
    need = run_bytes(args.kind, args.data)
    run = None
    try:
        with RunFolder(args.out, force=args.force, need_bytes=need) as run:
            result = fit(kind=args.kind, data_name=args.data, seed=args.seed, epochs=args.epochs,
                         steps=args.steps, max_seconds=args.max_seconds, device=args.device,
                         progress=not args.quiet, callbacks=[stop.asked] if args.keep_interrupted else [])
            if stop.received is not None and result.history.stopped == "callback":
                result.metrics["stopped"] = "interrupted"  # (not if it came after training)
            if result.history.stopped == "diverged":
                _say(f"genlearn: error: {result.history.message}; nothing written to {args.out}", err=True)
                return 1
            metrics = _write(result, run)
        _say(_summary(metrics))
        _say(f"wrote {args.out}/metrics.json, samples.png, samples.npy, model.pt")
    except Interrupted as signalled:  # (after the commit too: the line then says the run is there)
        return _interrupted(signalled, run)
    if stop.received is not None:
        if metrics["stopped"] == "interrupted":
            _say(f"genlearn: interrupted after {metrics['steps']} steps; the partial run is in {args.out}", err=True)
        else:
            _say(f"genlearn: {_signal_name(stop.received)} came after training; the complete run is in {args.out}",
                 err=True)
        return 128 + stop.received
    return 0


def cmd_tour(args, stop: _StopSignals) -> int:
    from .device import choose_device

    runs = {"vae": args.out / "vae_digits", "gan": args.out / "gan_ring"}
    need = {"vae": run_bytes("vae", "digits"), "gan": run_bytes("gan", "ring")}
    current = vae_run = gan_run = None
    try:
        with RunFolder(runs["vae"], force=True, need_bytes=need["vae"] + need["gan"]) as vae_run, \
                RunFolder(runs["gan"], force=True, need_bytes=need["gan"]) as gan_run:
            _say(f"genlearn tour: device {choose_device(args.device)}")
            _say("1/2  a VAE learns the 8x8 digits (Bernoulli likelihood on binarized pixels) ...")
            current = vae_run
            vae = fit("vae", "digits", max_seconds=25, device=args.device, progress=not args.quiet)
            _say("     " + _summary(_write(vae, vae_run)))
            _say("2/2  a GAN learns a ring of 8 Gaussians (non-saturating loss + R1 penalty) ...")
            current = gan_run
            gan = fit("gan", "ring", device=args.device, progress=not args.quiet)
            _say("     " + _summary(_write(gan, gan_run)))
        _say(f"Images: {args.out}/vae_digits/samples.png, {args.out}/gan_ring/samples.png")
        _say(NEXT_STEPS)
    except Interrupted as signalled:
        if gan_run is not None and current is gan_run and not gan_run.committed and vae_run.committed:
            _say(f"genlearn: interrupted; the VAE's run is complete in {vae_run.out}, the GAN's was not "
                 f"written", err=True)
            return signalled.status
        return _interrupted(signalled, current)
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
        with _StopSignals(keep=getattr(args, "keep_interrupted", False)) as stop:
            if args.command == "info":
                return cmd_info(args)
            return {"train": cmd_train, "tour": cmd_tour}[args.command](args, stop)
    except ValueError as err:  # a bad combination the parser could not see, an unusable --out
        _say(f"genlearn: error: {err}", err=True)
        return 2
    except CommitError as err:  # the finished run could not be put in place: it is kept, and we say where
        _say(f"genlearn: error: {err}", err=True)
        return 1
    except OSError as err:  # writing the run failed (a full disk): the earlier run is untouched
        _say(f"genlearn: error: could not write the run ({err.strerror or err}); nothing was "
             f"written, an earlier run there is untouched", err=True)
        return 1
    except Interrupted as signalled:  # (before or after a command's own run folder)
        return _interrupted(signalled, None)
    except KeyboardInterrupt:  # a Ctrl-C our handler did not see (genlearn.cli.main called off the main thread)
        _say("genlearn: interrupted; nothing written (--keep-interrupted keeps a partial run)", err=True)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
