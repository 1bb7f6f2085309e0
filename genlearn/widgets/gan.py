r"""Widgets for the GAN lessons (05-07).

* :class:`GanPlayground`: train a small GAN on a 2D mixture step by step, with controls for
  the loss, the learning rates and an R1 penalty, and watch ``p_g`` and the discriminator's
  surface ``D(x)`` evolve, with mode coverage measured after every click.
* :class:`GanTrainingMonitor`: a train-loop callback that keeps snapshots of G's samples on
  fixed noise; live during training, and a slider to scrub through them afterwards.
* :class:`GanLatentExplorer`: walk between two latent codes (linear or spherical path),
  apply the truncation trick, and, for conditional GANs, pick the class ``y``.

The playground trains with :class:`genlearn.train.GanStepper`, the update that
:func:`genlearn.train.train_gan` loops over, so what it shows is what the recipes train.
"""

from __future__ import annotations

import math

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure

from .._checks import check_choice, check_learning_rate, check_positive_int, check_range
from ..data import toy2d
from ..device import follow_load, get_device
from ..latent import interpolate
from ..metrics import mode_coverage
from ..models import GAN, GANConfig
from ..models.gan_losses import LOSSES
from ..plot import PALETTE, figure_legend, image_grid, legend, new_axes, scatter2d, tile
from ..train import GanStepper
from .base import FigureWidget

MIXTURES = ("ring", "grid")
# The losses' colours, the same in the playground and the training monitor, and apart from what
# the playground's scatter uses (blue data, orange samples, black mode centres).
LOSS_COLOURS = {"loss_d": PALETTE[2], "loss_g": PALETTE[5]}


# ============================================================================ 2D playground


class GanPlayground(FigureWidget):
    r"""Train a GAN on a 2D mixture, click by click, and watch ``p_g`` and ``D`` evolve.

    Left: the discriminator's view of the plane (``D(x) = sigmoid(d(x))`` for the
    minimax/non-saturating losses, the raw critic ``d(x)`` for WGAN-GP and hinge) with the data
    (grey) and G's samples (orange). Middle: samples against the mode centres, with coverage
    (:func:`genlearn.metrics.mode_coverage`). Right: losses and modes covered over steps.

    Changing the dataset, the loss or the seed starts a fresh GAN (press *Reset* to restart with
    the same settings); learning rates and R1 apply from the next step on, so you can e.g. lower
    them mid-training. *Train* runs ``steps per click`` updates; :meth:`train` does the same
    from code.
    """

    def __init__(self, data: str = "ring", loss: str = "nonsaturating", *, lr_g: float = 1e-4,
                 lr_d: float = 2e-4, r1_gamma: float = 0.0, steps_per_click: int = 250,
                 hidden=(128, 128, 128), latent_dim: int = 16, batch_size: int = 256,
                 n_samples: int = 1000, seed: int = 0, device=None):
        check_choice("data", data, MIXTURES)
        check_choice("loss", loss, LOSSES)
        check_learning_rate("lr_g", lr_g)
        check_learning_rate("lr_d", lr_d)
        check_choice("r1_gamma", r1_gamma, self.R1_CHOICES)
        check_range("steps_per_click", check_positive_int("steps_per_click", steps_per_click), 1, 2000)
        self.hidden, self.latent_dim = tuple(hidden), check_positive_int("latent_dim", latent_dim)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.n_samples = check_positive_int("n_samples", n_samples)
        self.device = get_device(device)
        self.history: list[dict] = []   # one record per click: step, modes, quality
        style = {"description_width": "initial"}
        self.data = W.Dropdown(options=MIXTURES, value=data, description="data")
        self.loss = W.Dropdown(options=LOSSES, value=loss, description="loss")
        self.lr_g = W.FloatLogSlider(value=lr_g, base=10, min=-5, max=-2, step=0.25,
                                     description="lr G", readout_format=".1e", style=style)
        self.lr_d = W.FloatLogSlider(value=lr_d, base=10, min=-5, max=-2, step=0.25,
                                     description="lr D", readout_format=".1e", style=style)
        self.r1 = W.Dropdown(options=self.R1_CHOICES, value=r1_gamma, description="R1 gamma", style=style)
        self.steps = W.IntSlider(value=steps_per_click, min=10, max=2000, step=10,
                                 description="steps per click", style=style)
        self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="140px"))
        self.train_button = W.Button(description="Train", button_style="primary", icon="play")
        self.reset_button = W.Button(description="Reset", icon="refresh")
        controls = [self.data, self.loss, self.lr_g, self.lr_d, self.r1, self.steps, self.seed,
                    self.train_button, self.reset_button]
        self._new_model()
        super().__init__(controls, title="GAN playground", auto_refresh=False)
        for control in (self.data, self.loss, self.seed):
            control.observe(lambda change: self.reset(), names="value")
        for control in (self.lr_g, self.lr_d, self.r1, self.steps):
            control.observe(lambda change: self._apply_settings(), names="value")
        self.train_button.on_click(lambda _: self.train())
        self.reset_button.on_click(lambda _: self.reset())

    R1_CHOICES = (0.0, 0.1, 1.0, 10.0)

    # ----------------------------------------------------------------- model and training
    def _new_model(self) -> None:
        self.dataset = toy2d(self.data.value, 10_000, seed=0)
        with torch.random.fork_rng():
            torch.manual_seed(int(self.seed.value))
            self.gan = GAN(GANConfig(x_shape=(2,), latent_dim=self.latent_dim, hidden=self.hidden,
                                     loss=self.loss.value, r1_gamma=float(self.r1.value)))
        seed = int(self.seed.value)
        self.stepper = GanStepper(self.gan, self.dataset.x, lr_g=self.lr_g.value, lr_d=self.lr_d.value,
                                  batch_size=self.batch_size, seed=seed, device=self.device,
                                  generator=torch.Generator(device=self.device).manual_seed(seed))
        self.gan.eval()
        self.log: list[dict] = []  # one record per step: step, loss_d, loss_g
        self.z = self.gan.noise(self.n_samples, torch.Generator(device=self.device).manual_seed(12345))
        self.history = []
        self._record()

    def _record(self) -> None:
        stats = mode_coverage(self.gan.sample(self.n_samples, z=self.z), self.dataset.centers,
                              self.dataset.std)
        self.history.append({"step": self.stepper.steps, "modes_covered": stats["modes_covered"],
                             "high_quality_fraction": stats["high_quality_fraction"]})

    def _apply_settings(self) -> None:
        self.stepper.set_lr(self.lr_g.value, self.lr_d.value)
        self.stepper.r1_gamma = float(self.r1.value)  # from the next step on
        self.refresh()

    def reset(self) -> None:
        """A fresh GAN with the current settings."""
        self._new_model()
        self.refresh()

    def train(self, steps: int | None = None) -> None:
        """Run ``steps`` (default: the slider's value) more updates, then redraw."""
        steps = self.steps.value if steps is None else check_positive_int("steps", steps)
        self.status.value = f"<i>training {steps} steps...</i>"
        self.gan.train()
        losses = []
        for _ in range(steps):
            losses.append(self.stepper.step())
            follow_load(self.device)  # the CPU threads follow the load, as in the training loops
        self.gan.eval()
        rows = torch.stack([torch.stack([p["loss_d"], p["loss_g"]]) for p in losses]).tolist()  # one sync
        for step, (loss_d, loss_g) in enumerate(rows, self.stepper.steps - steps + 1):
            self.log.append({"step": step, "loss_d": loss_d, "loss_g": loss_g})
        self._record()
        self.refresh()

    # ----------------------------------------------------------------- picture
    @torch.no_grad()
    def draw(self):
        ds, loss = self.dataset, self.loss.value
        samples = self.gan.sample(self.n_samples, z=self.z).cpu()
        stats = mode_coverage(samples, ds.centers, ds.std)
        lim = float(ds.centers.abs().max()) + 1.0
        fig, (ax_d, ax_s, ax_c) = new_axes(ncols=3, size=3.3)
        ref = ds.x[:1000]
        values = self._draw_discriminator(fig, ax_d, samples, ref, lim, loss)
        scatter2d(samples, reference=ref, centers=ds.centers, ax=ax_s, lim=lim, legend=False)
        ax_s.set_title(f"step {self.stepper.steps}: {stats['modes_covered']}/{stats['modes_total']} "
                       f"modes, {stats['high_quality_fraction']:.0%} high quality", fontsize=9)
        # one legend below the panels: in a panel it covered a mode centre, and beside the
        # curves it lay on the right axis's tick labels
        figure_legend(fig, ax_s, *self._draw_curves(ax_c), ncols=3)
        fig.suptitle(f"{ds.name} | loss={loss} | lr G {self.lr_g.value:.1e}, lr D {self.lr_d.value:.1e}"
                     f" | R1 {self.r1.value:g} | {self.steps.value} steps/click", fontsize=9)
        self.state = {"data": ds.name, "loss": loss, "lr_g": self.lr_g.value, "lr_d": self.lr_d.value,
                      "r1_gamma": self.r1.value, "steps_per_click": self.steps.value,
                      "step": self.stepper.steps, "samples": samples.numpy(),
                      "d_surface": values, **{k: v for k, v in stats.items() if k != "counts"}}
        self.status.value = (f"step {self.stepper.steps}: {stats['modes_covered']}/{stats['modes_total']}"
                             f" modes covered, {stats['high_quality_fraction']:.0%} high-quality samples (within 3 std of a mode)")
        return fig

    def _draw_discriminator(self, fig, ax, samples, ref, lim: float, loss: str) -> np.ndarray:
        """D over a 90 x 90 grid of the plane (a probability for the losses that have one, else
        the critic's score), with the data and the samples on top; returns the grid's values."""
        n = 90
        g = torch.linspace(-lim, lim, n)
        xx, yy = torch.meshgrid(g, g, indexing="xy")
        grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).to(self.device)
        d = self.gan.D(grid)
        prob = loss in ("nonsaturating", "minimax")
        values = (torch.sigmoid(d) if prob else d).cpu().numpy().reshape(n, n)
        im = ax.imshow(values, origin="lower", extent=(-lim, lim, -lim, lim), cmap="RdBu_r",
                       vmin=0 if prob else None, vmax=1 if prob else None)
        fig.colorbar(im, ax=ax, shrink=0.75, label="D(x): probability 'real'" if prob else "critic d(x)")
        ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.3", alpha=0.4)
        ax.scatter(samples[:, 0], samples[:, 1], s=1, c="tab:orange", alpha=0.5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title("D(x) (red: 'real'), data grey" if prob else "critic d(x), data grey", fontsize=9)
        return values

    def _draw_curves(self, ax) -> list:
        """The losses (a running mean) and, on a right axis, the modes covered; returns the axes
        that carry legend entries (none before the first step)."""
        ax.set_title("losses and modes covered", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if not self.log:
            ax.text(0.5, 0.5, "press Train", ha="center", va="center", transform=ax.transAxes)
            return []
        steps = np.array([r["step"] for r in self.log])
        for key in ("loss_d", "loss_g"):
            vals = np.array([r[key] for r in self.log])
            k = max(1, len(vals) // 100)  # a running mean, so the curve is readable
            smooth = np.convolve(vals, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1:], smooth, label=key, color=LOSS_COLOURS[key])
        ax_m = ax.twinx()
        ax_m.plot([h["step"] for h in self.history], [h["modes_covered"] for h in self.history],
                  "k.--", label="modes covered (right axis)")
        ax_m.set_ylim(0, self.dataset.n_modes + 0.5)
        ax_m.set_ylabel("modes covered")
        return [ax, ax_m]


# ============================================================================ training monitor


class GanTrainingMonitor(FigureWidget):
    """Snapshots of G's samples on fixed noise during training, and a slider over them.

    Pass :meth:`callback` to :func:`genlearn.train.train_gan` (``callbacks=[monitor.callback]``):
    every call stores a snapshot and shows it (live in JupyterLab). Afterwards the
    ``snapshot`` slider scrubs through training. Displayed with :meth:`show`
    (``monitor = GanTrainingMonitor(gan).show()``), each snapshot also replaces the static
    picture saved in the notebook, so a saved or downloaded copy shows the last step, not the
    untrained start.
    """

    def __init__(self, gan: GAN, n: int = 32, *, every: int = 1, seed: int = 0, ema: bool = True):
        if not isinstance(gan, GAN) or not gan.config.is_image:
            raise ValueError("GanTrainingMonitor needs a genlearn GAN on images (x_shape (C, H, W))")
        self.gan = gan
        self.n = check_positive_int("n", n)
        self.every = check_positive_int("every", every)
        self.ema = bool(ema)
        self.z = torch.randn(n, gan.config.latent_dim, generator=torch.Generator().manual_seed(seed))
        self.y = torch.arange(n) % gan.config.n_classes if gan.config.n_classes else None
        self.snapshots: list[dict] = []
        self._calls = 0
        self.snapshot = W.IntSlider(value=0, min=0, max=0, description="snapshot")
        self.take_snapshot({"step": 0})
        super().__init__([self.snapshot], title="Samples on fixed noise during training")

    @torch.no_grad()
    def take_snapshot(self, record: dict) -> None:
        images = self.gan.sample(self.n, self.y, z=self.z, ema=self.ema).cpu()
        self.snapshots.append({"step": int(record.get("step", 0)), "images": images,
                               "loss_d": record.get("loss_d"), "loss_g": record.get("loss_g")})
        self.snapshot.max = len(self.snapshots) - 1

    def callback(self, history) -> bool:
        """A train-loop callback: snapshot (every ``every``-th call) and show the newest."""
        self._calls += 1
        if self._calls % self.every == 0:
            self.take_snapshot(history.records[-1] if history.records else {"step": history.steps})
            if self.snapshot.value == self.snapshot.max:
                self.refresh()
            else:
                self.snapshot.value = self.snapshot.max  # observer redraws
            self.update_display()
        return False

    def draw(self):
        snap = self.snapshots[min(self.snapshot.value, len(self.snapshots) - 1)]
        fig = Figure(figsize=(9.5, 3.6), layout="constrained")   # within plot.MAX_FIGURE_INCHES
        ax_i, ax_c = fig.subplots(1, 2, width_ratios=[2.4, 1])   # room for 8 columns of images
        steps = [s["step"] for s in self.snapshots if s["loss_d"] is not None]
        if steps:
            for key in ("loss_d", "loss_g"):
                ax_c.plot(steps, [s[key] for s in self.snapshots if s["loss_d"] is not None], label=key,
                          color=LOSS_COLOURS[key])   # the playground's colours
            ax_c.axvline(snap["step"], color="k", lw=0.8, ls=":")
            ax_c.set_xlabel("step")
            ax_c.set_ylabel("loss")
            legend(ax_c)
        ax_c.set_title("losses", fontsize=9)
        # the grid last: it sizes itself after the layout the curves' labels need
        image_grid(snap["images"], ncols=8, ax=ax_i, title=f"step {snap['step']}")
        self.state = {"snapshot": self.snapshot.value, "step": snap["step"],
                      "images": snap["images"].numpy(), "n_snapshots": len(self.snapshots)}
        return fig


# ============================================================================ latent explorer


class GanLatentExplorer(FigureWidget):
    """Walk G's latent space: interpolate between two codes, truncate, pick a class.

    Top: ``G(z)`` along the path from ``z_a`` (seed *from*) to ``z_b`` (seed *to*). Bottom: a
    grid of samples on fixed noise, with ``z`` clamped to ``[-t, t]`` (the truncation trick;
    ``t = 3`` leaves almost every code untouched). ``state["diversity"]`` is the grid's mean
    pairwise pixel distance: it falls as t shrinks. For a conditional GAN a *class* control
    sets ``y``.
    """

    PATHS = ("linear", "spherical")

    def __init__(self, gan: GAN, *, n_steps: int = 10, n_grid: int = 30, seed_a: int = 1,
                 seed_b: int = 2, truncation: float = 3.0, path: str = "spherical", label: int = 0,
                 ema: bool = True):
        if not isinstance(gan, GAN) or not gan.config.is_image:
            raise ValueError("GanLatentExplorer needs a genlearn GAN on images (x_shape (C, H, W))")
        check_range("n_steps", check_positive_int("n_steps", n_steps), 2, 20)
        check_range("n_grid", check_positive_int("n_grid", n_grid), 1, 100)
        check_range("truncation", truncation, 0.1, 3.0)
        check_choice("path", path, self.PATHS)
        self.gan, self.n_steps, self.n_grid, self.ema = gan, n_steps, n_grid, ema
        Z, K = gan.config.latent_dim, gan.config.n_classes
        self.z_grid = torch.randn(n_grid, Z, generator=torch.Generator().manual_seed(999))
        self.seed_a = W.IntSlider(value=seed_a, min=0, max=99, description="from seed")
        self.seed_b = W.IntSlider(value=seed_b, min=0, max=99, description="to seed")
        self.truncation = W.FloatSlider(value=truncation, min=0.1, max=3.0, step=0.1,
                                        description="truncation t")
        self.path = W.ToggleButtons(options=self.PATHS, value=path, description="path")
        controls = [self.seed_a, self.seed_b, self.truncation, self.path]
        self.label = None
        if K:
            check_range("label", label, 0, K - 1)
            self.label = W.Dropdown(options=list(range(K)), value=label, description="class y")
            controls.append(self.label)
        elif label != 0:
            raise ValueError("label applies to conditional GANs only (this one has n_classes=0)")
        super().__init__(controls, title="Latent explorer")

    def code(self, seed: int) -> torch.Tensor:
        return torch.randn(self.gan.config.latent_dim, generator=torch.Generator().manual_seed(int(seed)))

    @torch.no_grad()
    def draw(self):
        z0, z1 = self.code(self.seed_a.value), self.code(self.seed_b.value)
        path = interpolate(z0, z1, self.n_steps, spherical=self.path.value == "spherical")
        trunc = self.truncation.value
        y = None if self.label is None else self.label.value
        strip = self.gan.sample(self.n_steps, y, z=path, truncation=trunc, ema=self.ema).cpu()
        grid = self.gan.sample(self.n_grid, y, z=self.z_grid, truncation=trunc, ema=self.ema).cpu()
        flat = grid.flatten(1)
        diversity = float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0
        rows = math.ceil(self.n_grid / 10)
        fig = Figure(figsize=(7.5, 1.5 + 0.75 * rows), layout="constrained")
        ax_s, ax_g = fig.subplots(2, 1, height_ratios=[1, rows])
        ax_s.imshow(tile(strip, ncols=self.n_steps), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax_s.set_axis_off()
        label = "" if y is None else f", y = {y}"
        ax_s.set_title(f"{self.path.value} path from seed {self.seed_a.value} to seed {self.seed_b.value}"
                       f"{label}", fontsize=9)
        image_grid(grid, ncols=10, ax=ax_g)
        ax_g.set_title(f"samples with z clamped to [-{trunc:.1f}, {trunc:.1f}]: diversity {diversity:.2f}",
                       fontsize=9)
        self.state = {"seed_a": self.seed_a.value, "seed_b": self.seed_b.value, "truncation": trunc,
                      "path": self.path.value, "label": y, "strip": strip.numpy(), "grid": grid.numpy(),
                      "diversity": diversity}
        return fig
