"""Training loops: VAE (and autoencoder), exact likelihood (flow, MADE), GAN, diffusion, reward
fine-tuning and small classifiers, in plain PyTorch.

Each loop's update is written out in one place, on one screen: :func:`_fit_epochs` for
:func:`train_vae` and :func:`train_likelihood` (one batch's ``model.loss``, backward, Adam
step), :meth:`GanStepper.step` for :func:`train_gan`, and the loop bodies of
:func:`train_diffusion`, :func:`finetune_with_reward` and :func:`train_classifier`. What every
loop shares and no update needs to read is :class:`_Loop`: the clock, a ``tqdm.auto``
progress bar (a widget in JupyterLab, text in a terminal), the :class:`History` of losses,
``callbacks`` (e.g. a live plot) every ``log_every`` steps, divergence, and ``max_seconds``, so a
lesson can train for the time it has.

The loops are seeded and device-aware (:func:`genlearn.device.get_device`; on the CPU their
thread count follows the load while they train, :func:`genlearn.device.follow_load`). A loop
says up front what it needs from a model (:func:`require`: a ``config.x_shape`` and the verbs
it calls), so a new model kind learns what is missing before anything trains.

Data is held as tensors on the training device and batched by index: the datasets here
are small and already in memory, and a ``DataLoader`` collating single items cost more
than the model's own step on a 2-core CPU.

The GAN update itself is :class:`GanStepper`: :func:`train_gan` loops over it, and the
playground widget (:mod:`genlearn.widgets.gan`) calls it click by click, so both train by
the same rules.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
try:  # tqdm.auto picked the notebook bar (an ipywidget) when it runs in a kernel with ipywidgets
    from tqdm.notebook import tqdm_notebook as _NotebookBar
    NOTEBOOK_BAR = issubclass(tqdm, _NotebookBar)
except ImportError:
    NOTEBOOK_BAR = False

from ._checks import (check_data, check_learning_rate, check_positive, check_positive_int, check_range,
                      check_seed, check_unit_interval)
from .data.base import as_tensors
from .device import CPU, follow_load, get_device, has_fused_adam, synchronize
from .models.diffusion import Diffusion
from .models.gan import GAN
from .models.gan_losses import d_loss, g_loss, gradient_penalty, r1_penalty
from .models.autoencoder import Autoencoder
from .models.vae import VAE

Callback = Callable[["History"], "bool | None"]  # return True to stop training

DIVERGENCE_GROWTH = 1e4
"""A loss (a record named ``loss...`` or ``nll``) whose size grows past this many times its
first step's (or past this many units, when that was below 1) has diverged, finite or not.
Healthy runs stay far below: the GAN losses of every loss type on the ring peaked at under 7
times their first value over 1,500-3,000 steps at learning rates 1e-4 to 5e-3, while a
learning rate of 0.9 took the VAE's loss from about 3 to 1e8-1e11 within 50 steps."""


def _is_loss(key: str) -> bool:
    return key.startswith("loss") or key == "nll"


@dataclass
class History:
    """What happened during training: one record (a dict) per log point."""

    records: list[dict] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped: str = "finished"  # or "time budget", "callback", "diverged"
    message: str = ""          # why training diverged, if it did

    def series(self, key: str) -> np.ndarray:
        """The values of ``key`` over the records that have it, as an array."""
        return np.array([r[key] for r in self.records if key in r], dtype=float)

    def last(self, key: str) -> float:
        values = self.series(key)
        if not len(values):
            raise KeyError(f"no record has {key!r}; keys seen: {sorted({k for r in self.records for k in r})}")
        return float(values[-1])

    def to_dict(self) -> dict:
        return {"records": self.records, "steps": self.steps, "seconds": self.seconds,
                "stopped": self.stopped, "message": self.message}


def _start(seed: int, device) -> tuple[torch.device, torch.Generator]:
    """Seed torch's global stream (initialization, noise) and return the device and the
    generator of the batch order, both from ``seed``."""
    seed = check_seed("seed", seed)
    device = get_device(device)
    torch.manual_seed(seed)
    return device, torch.Generator().manual_seed(seed)


def _on_device(data, device: torch.device, labels: bool, item_shape: tuple[int, ...],
               value_range: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``data`` checked (not empty, examples of ``item_shape``, finite, within ``value_range``)
    as float tensors on ``device``; its labels only where the model takes them."""
    x, y = as_tensors(data)
    x = check_data("data", x, item_shape=item_shape, value_range=value_range)
    if y is not None and labels and len(y) != len(x):
        raise ValueError(f"data has {len(x)} examples but {len(y)} labels")
    return x.to(device), (y.to(device) if (y is not None and labels) else None)


def require(model, loop: str, verbs: tuple[str, ...] = ("loss",)) -> None:
    """Raise a TypeError naming everything ``model`` lacks of what ``loop`` uses: a ``config``
    with ``x_shape`` (a tuple, the shape of one example) and the methods ``verbs``. Optional,
    read where present: ``config.n_classes`` (> 0: the model takes labels) and
    ``config.x_range`` (the values data may take)."""
    config = getattr(model, "config", None)
    missing = [] if isinstance(getattr(config, "x_shape", None), tuple) else [
        "config.x_shape (the shape of one example, a tuple)"]
    missing += [f"{verb}()" for verb in verbs if not callable(getattr(model, verb, None))]
    if missing:
        raise TypeError(f"{loop} trains a model with config.x_shape and {', '.join(f'{v}()' for v in verbs)}; "
                        f"a {type(model).__name__} has no {' and no '.join(missing)} "
                        f"(CONTRIBUTING.md, 'Add a model kind', says what each kind provides)")


def _takes_labels(model) -> bool:
    """Whether ``model`` is conditional: ``config.n_classes`` > 0 (absent means unconditional)."""
    return bool(getattr(model.config, "n_classes", 0))


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index batches over one shuffled epoch; the last, smaller batch is dropped unless it is all."""
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield order[i:i + batch_size]


class _Loop:
    """The bookkeeping every loop shares: clock, progress bar, history, callbacks, budget."""

    def __init__(self, total: int, unit: str, max_seconds, callbacks, progress, log_every, device,
                 settings: str = ""):
        if max_seconds is not None:
            check_positive("max_seconds", max_seconds)
        self.history, self.device = History(), device
        self.max_seconds, self.callbacks = max_seconds, list(callbacks)
        self.log_every = check_positive_int("log_every", log_every)
        self.shown = None   # the notebook display of the progress bar, if any
        self.bar = self._progress_bar(total, unit, progress)
        self.pending: dict[str, list[torch.Tensor]] = {}
        self.first: dict[str, float] = {}  # per loss: its first step's value; past
        # DIVERGENCE_GROWTH times that size (at least 1) it has diverged
        self.settings = settings  # e.g. "lr=0.001", named when training diverges
        self.start = time.perf_counter()

    def _progress_bar(self, total: int, unit: str, progress: bool):
        if not (progress and NOTEBOOK_BAR):
            return tqdm(total=total, unit=unit, disable=not progress, leave=False)
        # In a notebook, show the bar under a display id, so that close() can replace it by its
        # final text: a saved notebook then reads "100%|...| 1320/1320 [00:05<00:00, ...]",
        # not the "0%" the widget's text had when it was first displayed.
        # The bundle is written out, not display(bar.container): ipywidgets 7 (Colab's) displays a
        # widget through _ipython_display_, which drops the display id, so the update never lands.
        from IPython.display import display
        bar = tqdm(total=total, unit=unit, leave=False, display=False)
        view = {"version_major": 2, "version_minor": 0, "model_id": bar.container.model_id}
        self.shown = display({"text/plain": repr(bar.container), WIDGET_MIME: view}, raw=True, display_id=True)
        return bar

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def add(self, parts: dict[str, torch.Tensor]) -> None:
        """Keep this step's losses as tensors; averaging them at log time avoids a GPU sync per step."""
        self.history.steps += 1
        for k, v in parts.items():
            self.pending.setdefault(k, []).append(v)

    def log(self, **extra) -> bool:
        """Write a record; return True if training should stop (a callback asked, or a loss
        is not finite or grew :data:`DIVERGENCE_GROWTH` times: the history then says
        ``stopped="diverged"`` and why)."""
        record = {"step": self.history.steps, "time": round(self.elapsed(), 3), **extra}
        for k, values in self.pending.items():
            record[k] = float(torch.stack(values).mean())
        # the mean is finite exactly when every step's value was (checked here, not per step,
        # which would cost a device synchronization each step)
        diverged = [k for k in self.pending if not math.isfinite(record[k]) or self._grew(k)]
        if diverged:
            self.diverged(diverged)
        self.pending.clear()
        self.history.records.append(record)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k not in ("step", "time")},
                             refresh=False)
        stop = False
        for cb in self.callbacks:
            stop = bool(cb(self.history)) or stop
        if stop:
            self.history.stopped = "callback"
        if diverged:
            self.history.stopped = "diverged"
        return stop or bool(diverged)

    def _grew(self, key: str) -> bool:
        """Whether loss ``key`` grew past its limit in the pending steps; the first step that
        ever logs it sets the limit, :data:`DIVERGENCE_GROWTH` times its size (at least 1)."""
        if not _is_loss(key):
            return False
        values = torch.stack(self.pending[key])
        if key not in self.first:
            if not math.isfinite(float(values[0])):
                return False  # (reported as not finite)
            self.first[key] = float(values[0])
        return float(values.abs().max()) > self._limit(key)

    def _limit(self, key: str) -> float:
        return DIVERGENCE_GROWTH * max(abs(self.first[key]), 1.0)

    def diverged(self, keys: list[str]) -> None:
        """Name the first step whose loss was not finite or past its limit, and the likely causes."""
        first = None
        for k in keys:
            values = torch.stack(self.pending[k])
            bad = ~torch.isfinite(values)
            if k in self.first:
                bad |= values.abs() > self._limit(k)
            bad = bad.nonzero()
            i = int(bad[0]) if len(bad) else len(values) - 1  # (finite values whose mean overflowed)
            if first is None or i < first[0]:
                first = (i, k, float(values[i]))
        i, key, value = first
        step = self.history.steps - len(self.pending[key]) + i + 1
        grew = (f" (it was {self.first[key]:.3g} at step 1; past {self._limit(key):,.0f} counts as "
                f"diverged)" if math.isfinite(value) else "")
        self.history.message = (
            f"training diverged at step {step}: {key} = {value:.4g}{grew}. Likely causes: a learning rate "
            f"too high{f' ({self.settings})' if self.settings else ''}, or data with extreme "
            f"values (check its range and scale)")
        warnings.warn(self.history.message, RuntimeWarning, stacklevel=4)

    def step(self, parts: dict[str, torch.Tensor]) -> bool:
        """One training step done: keep its losses, let the CPU threads follow the load, log
        every ``log_every`` steps, check the budget. Returns True when training should stop
        (a callback asked, or time is up)."""
        self.add(parts)
        self.bar.update()
        follow_load(self.device)
        if self.history.steps % self.log_every == 0 and self.log():
            return True
        return self.out_of_time()

    def out_of_time(self) -> bool:
        if self.max_seconds is not None and self.elapsed() > self.max_seconds:
            self.history.stopped = "time budget"
            return True
        return False

    def close(self) -> History:
        if self.pending:
            self.log()
        synchronize(self.device)
        self.history.seconds = self.elapsed()
        final = str(self.bar)
        self.bar.close()
        if self.shown is not None:
            self.shown.update({"text/plain": final}, raw=True)
        return self.history


def check_betas(name: str, betas) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``: two numbers in [0, 1)."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2) of numbers in [0, 1), got {betas!r}")
    for i, b in enumerate(betas):
        check_unit_interval(f"{name}[{i}]", b)
    return float(betas[0]), float(betas[1])


def adam(params, lr: float, betas: tuple[float, float], device: torch.device,
         weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where PyTorch has one (CPU and CUDA): on the small
    models here the per-tensor updates of the default implementation cost a third of a VAE step."""
    betas = check_betas("betas", betas)
    weight_decay = check_range("weight_decay", weight_decay, 0, math.inf)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay,
                            fused=has_fused_adam(device))


# ============================================================================ VAE


class WeightAverage:
    r"""An exponential moving average of a model's parameters (Polyak averaging), to end
    training with: :math:`\bar\theta \leftarrow d_t\,\bar\theta + (1 - d_t)\,\theta` after
    update t, with :math:`d_t = \min(\text{decay}, \tfrac{1 + t}{10 + t})`, so the average
    forgets the initialization early on and spans the last ~10% of a short run (the last
    ``1 / (1 - decay)`` updates of a long one). The averaged weights sit in the flat minimum the
    noisy steps circle around, which generalizes better than the last step's."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = check_range("ema_decay", decay, 0, 1)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, p in zip(self.average, self.params):
            avg.lerp_(p, 1.0 - d)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for avg, p in zip(self.average, self.params):
            p.copy_(avg)


def _fit_epochs(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, opt: torch.optim.Optimizer, *,
                epochs: int, batch_size: int, order: torch.Generator, loop: _Loop,
                average: WeightAverage | None = None) -> None:
    """The update of :func:`train_vae` and :func:`train_likelihood`, over ``epochs`` shuffled
    epochs of ``x`` (and labels ``y``, or None): ``model.loss`` of a batch is ``(loss, parts)``;
    one Adam step on ``loss``; ``average``, if given, follows the weights; ``parts`` go to the
    history. Callbacks also run at the end of each epoch (records carry ``epoch``)."""
    for epoch in range(epochs):
        for idx in batches(len(x), batch_size, order):
            idx = idx.to(loop.device)
            loss, parts = model.loss(x[idx], None if y is None else y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if average is not None:
                average.update()
            if loop.step(parts):
                return
        if loop.log(epoch=epoch + 1):
            return


def train_vae(model: VAE | Autoencoder, data, *, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3,
              ema_decay: float | None = None, max_seconds: float | None = None, seed: int = 0,
              device=None, callbacks: Iterable[Callback] = (), progress: bool = True,
              log_every: int = 50) -> History:
    """Fit ``model`` by minimizing its ``loss`` with Adam (for a VAE: maximizing the beta-weighted
    ELBO). Returns the history. ``model``: a VAE, an autoencoder, or any model with
    ``config.x_shape`` and ``loss(x, y=None) -> (loss, parts)``, checked up front
    (:func:`require`); it takes labels when ``config.n_classes`` > 0. The update is
    :func:`_fit_epochs`.

    ``ema_decay``: keep a moving average of the weights (:class:`WeightAverage`) and leave the
    model with it at the end, however training ended; the callbacks see the raw weights.
    ``callbacks`` run every ``log_every`` steps and at the end of each epoch (records then
    carry ``epoch``). The model is left on ``device`` in eval mode.
    """
    require(model, "train_vae")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_learning_rate("lr", lr)
    device, order = _start(seed, device)
    x_all, y_all = _on_device(data, device, labels=_takes_labels(model), item_shape=model.config.x_shape,
                              value_range=getattr(model.config, "x_range", None))
    model.to(device).train()
    opt = adam(model.parameters(), lr, (0.9, 0.999), device)
    average = None if ema_decay is None else WeightAverage(model, ema_decay)
    steps_per_epoch = max(1, len(x_all) // batch_size)
    loop = _Loop(epochs * steps_per_epoch, "step", max_seconds, callbacks, progress, log_every, device,
                 settings=f"lr={lr:g}")
    _fit_epochs(model, x_all, y_all, opt, epochs=epochs, batch_size=batch_size, order=order, loop=loop,
                average=average)
    if average is not None and average.updates:
        average.copy_to_model()
    model.eval()
    return loop.close()


# ============================================================================ exact likelihood


def train_likelihood(model: nn.Module, data, *, epochs: int = 10, batch_size: int = 128,
                     lr: float = 1e-3, weight_decay: float = 0.0, max_seconds: float | None = None,
                     seed: int = 0, device=None, callbacks: Iterable[Callback] = (),
                     progress: bool = True, log_every: int = 50) -> History:
    """Maximum likelihood for the models whose ``log p(x)`` is exact, a
    :class:`~genlearn.models.flow.Flow` or a :class:`~genlearn.models.made.MADE`: Adam on
    their ``loss`` (the mean negative log-likelihood, records ``nll``), as :func:`train_vae`
    does for the ELBO. A model with ``fit_normalization`` (the flow) first standardizes
    itself on ``data``. ``weight_decay``: Adam's L2 penalty, against overfitting small data.
    """
    require(model, "train_likelihood")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_learning_rate("lr", lr)
    device, order = _start(seed, device)
    x_all, _ = _on_device(data, device, labels=False, item_shape=model.config.x_shape,
                          value_range=getattr(model.config, "x_range", None))
    model.to(device).train()
    if hasattr(model, "fit_normalization"):
        model.fit_normalization(x_all)
    opt = adam(model.parameters(), lr, (0.9, 0.999), device, weight_decay)
    bs = min(batch_size, len(x_all))
    loop = _Loop(epochs * max(1, len(x_all) // bs), "step", max_seconds, callbacks, progress,
                 log_every, device, settings=f"lr={lr:g}")
    _fit_epochs(model, x_all, None, opt, epochs=epochs, batch_size=bs, order=order, loop=loop)
    model.eval()
    return loop.close()


# ============================================================================ GAN


class GanStepper:
    """One GAN update at a time: ``n_critic`` discriminator steps, then one generator step.

    The optimizers, the stream of real batches (shuffled epochs, seeded by ``seed``) and the
    step counts live here, so training can stop and resume: :func:`train_gan` loops over
    :meth:`step`, and the playground widget calls it click by click. ``r1_gamma`` (from the
    GAN's config) and the learning rates (:meth:`set_lr`) may change between steps.

    The generator step reuses the fakes of the last discriminator step (one generator pass
    per update, as in pytorch/examples' DCGAN), scored by the updated discriminator.
    ``r1_every``: "lazy" R1 (Karras et al., 2020): add the penalty on every k-th D step only,
    times k, so its average pull is unchanged and most steps skip its double backward.
    ``ema_decay``: keep an exponential moving average of G (used by ``gan.sample``).
    ``generator``: the random stream for noise and penalties; ``None`` is torch's global one.
    """

    def __init__(self, gan: GAN, data, *, batch_size: int = 256, lr_g: float = 2e-4,
                 lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), n_critic: int = 1,
                 r1_every: int = 1, ema_decay: float | None = None, seed: int = 0,
                 generator: torch.Generator | None = None, device=None):
        batch_size = check_positive_int("batch_size", batch_size)
        self.n_critic = check_positive_int("n_critic", n_critic)
        self.r1_every = check_positive_int("r1_every", r1_every)
        seed = check_seed("seed", seed)
        self.gan, self.device, self.generator = gan, get_device(device), generator
        self.order = torch.Generator().manual_seed(seed)
        self.x, self.y = _on_device(data, self.device, labels=bool(gan.config.n_classes),
                                    item_shape=gan.config.x_shape)
        self.batch_size = min(batch_size, len(self.x))
        gan.to(self.device).train()
        if ema_decay is not None:
            ema_decay = check_range("ema_decay", ema_decay, 0, 1)
        self.ema_decay = ema_decay
        if ema_decay is not None:
            gan.enable_ema()
        self.opt_g = adam(gan.G.parameters(), check_learning_rate("lr_g", lr_g), betas, self.device)
        self.opt_d = adam(gan.D.parameters(), check_learning_rate("lr_d", lr_d), betas, self.device)
        self.r1_gamma = gan.config.r1_gamma
        self.steps = 0     # generator updates so far
        self.d_steps = 0   # discriminator updates so far
        self._epoch: Iterator[torch.Tensor] = iter(())

    def set_lr(self, lr_g: float, lr_d: float) -> None:
        """New learning rates from the next step on (the optimizers keep their moments)."""
        for opt, lr in ((self.opt_g, check_learning_rate("lr_g", lr_g)),
                        (self.opt_d, check_learning_rate("lr_d", lr_d))):
            for group in opt.param_groups:
                group["lr"] = lr

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch of the current shuffled epoch (a new epoch when this one is used up)."""
        idx = next(self._epoch, None)
        if idx is None:
            self._epoch = batches(len(self.x), self.batch_size, self.order)
            idx = next(self._epoch)
        idx = idx.to(self.device)
        return self.x[idx], (None if self.y is None else self.y[idx])

    def step(self) -> dict[str, torch.Tensor]:
        """One update of D (``n_critic`` times) and G; returns the last losses (detached)."""
        gan, cfg = self.gan, self.gan.config
        for i in range(self.n_critic):
            x, y = self.real_batch()
            # the last critic step's fakes keep their graph: the generator step reuses them
            with torch.set_grad_enabled(i == self.n_critic - 1):
                fake_g = gan.G(gan.noise(len(x), self.generator), y)
            fake = fake_g.detach()
            critic = lambda t: gan.D(t, y)  # noqa: E731  (the same labels for real and fake)
            # one pass over real and fake together (D has no batch norm, so this is exact)
            scores = gan.D(torch.cat([x, fake]), None if y is None else torch.cat([y, y]))
            loss_d = d_loss(cfg.loss, scores[:len(x)], scores[len(x):])
            if cfg.loss == "wgan-gp":
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(critic, x, fake, self.generator)
            if self.r1_gamma > 0 and self.d_steps % self.r1_every == 0:
                loss_d = loss_d + self.r1_gamma * self.r1_every * r1_penalty(critic, x)
            self.d_steps += 1
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        # ---- generator: one step against the updated discriminator, on the last fakes
        gan.D.requires_grad_(False)  # backpropagate through D to G without D's weight gradients
        try:
            loss_g = g_loss(cfg.loss, gan.D(fake_g, y))
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        finally:
            gan.D.requires_grad_(True)
        self.opt_g.step()
        if self.ema_decay is not None:
            gan.update_ema(self.ema_decay)
        self.steps += 1
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}


def train_gan(gan: GAN, data, *, steps: int = 2000, batch_size: int = 256,
              lr_g: float = 2e-4, lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
              n_critic: int = 1, ema_decay: float | None = None, lr_decay: bool = False,
              max_seconds: float | None = None, seed: int = 0, device=None,
              callbacks: Iterable[Callback] = (), progress: bool = True,
              log_every: int = 100, r1_every: int = 1) -> History:
    """``steps`` updates of :class:`GanStepper` (``n_critic`` discriminator steps and one
    generator step each; see it for ``ema_decay`` and ``r1_every``). Returns the history.

    ``lr_decay``: anneal both learning rates linearly to 0 over ``steps``, which lets the
    samples settle onto the modes instead of jittering around them. A GAN that samples with
    rejection (``config.rejection`` > 0) has its threshold calibrated on ``data`` at the end.
    """
    steps = check_positive_int("steps", steps)
    device = get_device(device)
    seed = check_seed("seed", seed)
    torch.manual_seed(seed)
    stepper = GanStepper(gan, data, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, betas=betas,
                         n_critic=n_critic, r1_every=r1_every, ema_decay=ema_decay, seed=seed,
                         device=device)
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0 - s / steps)
                 for o in (stepper.opt_g, stepper.opt_d)] if lr_decay else []
    loop = _Loop(steps, "step", max_seconds, callbacks, progress, log_every, device,
                 settings=f"lr_g={lr_g:g}, lr_d={lr_d:g}")
    for _ in range(steps):
        parts = stepper.step()
        for s in schedules:
            s.step()
        if loop.step(parts):
            break
    gan.eval()
    if gan.config.rejection > 0 and stepper.steps:
        gan.calibrate_rejection(stepper.x)
    return loop.close()


# ============================================================================ diffusion


def train_diffusion(model: Diffusion, data, *, steps: int = 3000, batch_size: int = 512,
                    lr: float = 2e-3, max_seconds: float | None = None, seed: int = 0,
                    device=None, callbacks: Iterable[Callback] = (), progress: bool = True,
                    log_every: int = 100) -> History:
    """Fit the noise predictor eps_theta of a :class:`~genlearn.models.diffusion.Diffusion`
    with Adam, the learning rate annealed linearly to 0; batches are drawn with replacement.
    The model first standardizes itself on ``data`` (``fit_normalization``)."""
    require(model, "train_diffusion", ("loss", "fit_normalization"))
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_learning_rate("lr", lr)
    device, order = _start(seed, device)
    x_all, _ = _on_device(data, device, labels=False, item_shape=model.config.x_shape)
    model.to(device).train()
    model.fit_normalization(x_all)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
    bs = min(batch_size, len(x_all))
    loop = _Loop(steps, "step", max_seconds, callbacks, progress, log_every, device, settings=f"lr={lr:g}")
    for _ in range(steps):
        idx = torch.randint(len(x_all), (bs,), generator=order).to(device)
        loss, parts = model.loss(x_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if loop.step(parts):
            break
    model.eval()
    return loop.close()


# ============================================================================ reward fine-tuning


def finetune_with_reward(model: nn.Module, reward: Callable[[torch.Tensor], torch.Tensor], *,
                         steps: int = 100, batch_size: int = 256, lr: float = 1e-3,
                         kl_weight: float = 0.0, max_seconds: float | None = None, seed: int = 0,
                         callbacks: Iterable[Callback] = (), progress: bool = True,
                         log_every: int = 10) -> History:
    r"""Fine-tune a generator by policy gradient (REINFORCE; Williams, 1992), as RLHF tunes a
    language model: the model is the policy (it must ``sample`` and give an exact
    ``log_prob``, like :class:`~genlearn.models.made.MADE`), ``reward(x)`` (B,) scores its
    samples, and a frozen copy :math:`p_{ref}` of the model at the start anchors it:

    .. math:: \max_\theta\ \mathbb E_{x \sim p_\theta}\big[R(x)\big]
              - \lambda\, \mathrm{KL}(p_\theta \,\|\, p_{ref}), \qquad
              \nabla \approx \frac1B \sum_b (r_b - \bar r)\, \nabla_\theta \log p_\theta(x_b),
              \quad r_b = R(x_b) - \lambda \log\frac{p_\theta(x_b)}{p_{ref}(x_b)}

    (:math:`\lambda` = ``kl_weight``; the batch mean :math:`\bar r` is the baseline that
    cuts the estimate's variance). Records ``reward`` (mean :math:`R`) and ``kl`` (the mean
    log-ratio, an estimate of the KL). Runs on the model's device; returns the history.
    """
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    kl_weight = check_range("kl_weight", kl_weight, 0, math.inf)
    seed = check_seed("seed", seed)
    device = model.device
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    model.train()
    opt = adam(model.parameters(), check_learning_rate("lr", lr), (0.9, 0.999), device)
    loop = _Loop(steps, "step", max_seconds, callbacks, progress, log_every, device)
    for _ in range(steps):
        x = model.sample(batch_size, generator=gen)
        with torch.no_grad():
            r_task = reward(x).float().view(-1).to(device)
        log_p = model.log_prob(x)                                        # (B,), with gradients
        log_ratio = log_p.detach() - ref.log_prob(x)
        r = r_task - kl_weight * log_ratio
        loss = -((r - r.mean()) * log_p).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if loop.step({"reward": r_task.mean(), "kl": log_ratio.mean()}):
            break
    model.eval()
    return loop.close()


# ============================================================================ small classifiers


def train_classifier(net: nn.Module, n: int, batch_loss: Callable[[torch.Tensor], torch.Tensor], *,
                     steps: int, batch_size: int, lr: float, generator: torch.Generator,
                     device=CPU) -> nn.Module:
    """Adam on ``steps`` minibatches of ``batch_size`` indices into ``n`` examples, drawn with
    replacement from ``generator``; ``batch_loss(idx)`` is the loss of the examples ``idx``.

    The small helper networks of :mod:`genlearn.features` and :mod:`genlearn.ethics` train
    here. Gradients are on even when called inside a ``no_grad`` evaluation. A non-finite
    loss raises ``FloatingPointError`` naming the step (these nets have no history to say it).

    Unlike the other loops it does not follow the load (:func:`genlearn.device.follow_load`):
    the feature nets are cached and must come out the same when a cache is rebuilt, and a
    thread count that changes mid-run changes the arithmetic (CI caught features differing by
    1e-3 after a rebuild beside other work).
    """
    n = check_positive_int("n", n)
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    opt = torch.optim.Adam(net.parameters(), lr=check_learning_rate("lr", lr))
    with torch.enable_grad():
        for step in range(1, steps + 1):
            idx = torch.randint(n, (batch_size,), generator=generator).to(device)
            loss = batch_loss(idx)
            if not math.isfinite(float(loss.detach())):  # a sync per step: these nets are tiny, their steps short
                raise FloatingPointError(f"training diverged at step {step}: loss = "
                                         f"{float(loss.detach())}. Likely causes: a learning rate too high "
                                         f"(lr={lr:g}), or data with extreme values")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net
