"""Widgets for the first lessons: a sanity check, a device report, and a mixture density.

* :class:`SanityCheck` (lesson 00): pick a toy 2D dataset and a sample size; the picture
  redraws. If it does, ipywidgets and the kernel talk to each other.
* :class:`DeviceReport` (lesson 00): which device genlearn chose and why, and how fast a
  matrix product runs there.
* :class:`MixtureDensity` (lesson 01): fit scikit-learn's ``GaussianMixture`` to 2D data
  and watch the fitted density p(x) and its held-out log-likelihood change with the number
  of components K and of training points N.
"""

from __future__ import annotations

import time
import warnings

import ipywidgets as W
import numpy as np
import torch

from .. import plot
from .._checks import check_choice, check_range
from ..data import dataset_names, load
from ..device import CPU, choose_device, describe, synchronize
from .base import FigureWidget


def toy_dataset_dropdown(dataset: str, description: str) -> W.Dropdown:
    """A Dropdown of the registry's 2D datasets (kind "2d"), ``dataset`` chosen."""
    names = dataset_names("2d")
    check_choice("2D dataset", dataset, names)
    return W.Dropdown(options=list(names), value=dataset, description=description)


class SanityCheck(FigureWidget):
    """Move the slider: if the points change, widgets work in this browser and kernel."""

    def __init__(self, dataset: str = "moons", n: int = 500, seed: int = 0):
        self.dataset = toy_dataset_dropdown(dataset, "dataset")
        check_range("n", n, 10, 5000)
        self.seed = seed
        self.n = W.IntSlider(value=int(n), min=10, max=5000, step=10, description="points",
                             continuous_update=False)
        super().__init__([self.dataset, self.n], title="Widget sanity check")

    def draw(self):
        data = load(self.dataset.value, seed=self.seed, n=self.n.value)
        self.state = {"dataset": self.dataset.value, "n": self.n.value, "x": data.x.numpy()}
        fig = plot.scatter2d(data.x, centers=getattr(data, "centers", None), label="data",
                             title=f"{self.n.value} points of '{self.dataset.value}'")
        self.status.value = f"drawn at {time.strftime('%H:%M:%S')}: the kernel answered"
        return fig


def device_options() -> list[tuple[str, str]]:
    """(label, value) pairs for a Dropdown: genlearn's automatic choice, then the CPU."""
    auto = choose_device().device
    options = [(f"auto ({auto})", "auto")]
    if auto != CPU:
        options.append((str(CPU), str(CPU)))
    return options


@torch.no_grad()
def matmul_gflops(device: torch.device, size: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` speed of a (size x size) float32 matrix product, in GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):  # warm-up (thread pool, kernel choice, lazy initialization)
        a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / max(best, 1e-9) / 1e9


class DeviceReport(FigureWidget):
    """Which device genlearn uses, why, and how fast it multiplies matrices of growing size."""

    SIZES = (32, 64, 128, 256, 512, 1024)

    def __init__(self, max_size: int = 256):
        check_choice("max_size", max_size, self.SIZES)
        options = device_options()
        self.device = W.Dropdown(options=options, value=options[0][1], description="device")
        self.max_size = W.SelectionSlider(options=list(self.SIZES), value=max_size,
                                          description="largest n", continuous_update=False)
        super().__init__([self.device, self.max_size], title="Device report")

    def draw(self):
        device = choose_device(self.device.value).device
        sizes = [s for s in self.SIZES if s <= self.max_size.value]
        speeds = [matmul_gflops(device, s) for s in sizes]
        self.state = {"device": str(device), "sizes": sizes, "gflops": speeds}
        fig, ax = plot.new_axes(size=3.4)
        ax.plot(sizes, speeds, "o-")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("matrix side n")
        ax.set_ylabel("GFLOP/s (n x n @ n x n)")
        ax.set_title(f"speed on {device}")
        self.status.value = "<pre>" + describe(self.device.value) + "</pre>"
        return fig


def fit_mixture(x, n_components: int, *, covariance_type: str = "full", reg_covar: float = 1e-4,
                seed: int = 0, **kwargs):
    """scikit-learn's ``GaussianMixture(n_components, ...).fit(x)``, run on one BLAS thread.

    EM on data this small is dominated by many tiny matrix operations; with two BLAS threads
    on a busy 2-core machine the same fit ran 70x slower (108 s instead of 1.5 s for 10
    components on the 64-pixel digits), and one thread loses nothing on a quiet machine.
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return GaussianMixture(n_components, covariance_type=covariance_type, reg_covar=reg_covar,
                               random_state=seed, **kwargs).fit(np.asarray(x))


class MixtureDensity(FigureWidget):
    r"""A Gaussian mixture :math:`p(x) = \sum_k \pi_k \mathcal N(x; \mu_k, \Sigma_k)` fitted
    by maximum likelihood (EM) to N points of a 2D dataset.

    Left: the fitted log-density with the training points; right: fresh samples from the
    model beside the data. ``state`` holds the average log-likelihood per point on the
    training points and on 2,000 held-out points.
    """

    SAMPLE_SIZES = (20, 50, 100, 200, 500, 1000, 2000, 5000)

    def __init__(self, dataset: str = "moons", n_components: int = 3, n_samples: int = 500,
                 max_components: int = 20, seed: int = 0, grid: int = 70):
        self.dataset = toy_dataset_dropdown(dataset, "data")
        check_choice("n_samples", n_samples, self.SAMPLE_SIZES)
        check_range("max_components", max_components, 1, 50)
        check_range("n_components", n_components, 1, max_components)
        self.seed, self.grid = seed, grid
        self.k = W.IntSlider(value=n_components, min=1, max=max_components, description="K",
                             continuous_update=False)
        self.n = W.SelectionSlider(options=list(self.SAMPLE_SIZES), value=n_samples,
                                   description="N", continuous_update=False)
        super().__init__([self.dataset, self.k, self.n], title="Gaussian mixture: K components, N points")

    def fit(self):
        train = load(self.dataset.value, "train", seed=self.seed, n=self.n.value).x.numpy()
        # the test split: the registry's other seed (seed + TEST_SEED_OFFSET), as everywhere
        test = load(self.dataset.value, "test", seed=self.seed, n=2000).x.numpy()
        return fit_mixture(train, self.k.value, seed=self.seed), train, test

    def draw(self):
        from threadpoolctl import threadpool_limits

        gmm, train, test = self.fit()
        lim = float(np.percentile(np.abs(test), 99.5)) * 1.15 + 0.1
        g = np.linspace(-lim, lim, self.grid)
        xx, yy = np.meshgrid(g, g)
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            # very narrow components (the ring) round to not-quite-PSD covariances when sampling
            warnings.simplefilter("ignore", RuntimeWarning)
            log_p = gmm.score_samples(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
            samples, _ = gmm.sample(len(test))
            train_ll, test_ll = float(gmm.score(train)), float(gmm.score(test))
        self.state = {"dataset": self.dataset.value, "n_components": self.k.value,
                      "n_samples": self.n.value, "train_ll": train_ll, "test_ll": test_ll,
                      "log_density": log_p, "means": gmm.means_.copy()}
        fig, (a, b) = plot.new_axes(ncols=2, size=3.4)
        im = a.imshow(np.clip(log_p, -12, None), origin="lower", extent=(-lim, lim, -lim, lim),
                      cmap="viridis")
        fig.colorbar(im, ax=a, shrink=0.8, label=r"$\log p(x)$")
        a.scatter(train[:, 0], train[:, 1], s=3, c="w", alpha=0.6)
        a.scatter(gmm.means_[:, 0], gmm.means_[:, 1], marker="x", c="r", s=25)
        a.set_xlabel("$x_1$")
        a.set_ylabel("$x_2$")
        a.set_title(f"fitted density, K={self.k.value}, N={self.n.value}")
        plot.scatter2d(samples, reference=test, ax=b, lim=lim,
                       title=f"avg log p: train {self.state['train_ll']:.2f}, "
                             f"test {self.state['test_ll']:.2f}")
        b.title.set_fontsize(9)
        return fig


class LiveCurves(FigureWidget):
    """Training curves that redraw while a model trains: pass it as a ``train_vae`` /
    ``train_gan`` callback.

        live = LiveCurves(["recon", "kl"]).show()
        history = train_vae(model, data, callbacks=[live])
        live.finish()

    ``show()`` displays it with a display id and ``finish()`` updates that display, so the
    executed notebook (and its HTML) keeps the final curves as a static image, not the
    empty axes it started with. Redraws are throttled to one per ``min_interval`` seconds.
    """

    def __init__(self, keys, *, x: str = "step", min_interval: float = 1.0, title: str = "Training",
                 ylabel: str | None = None):
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise ValueError("keys must name at least one history entry, e.g. ['loss']")
        check_range("min_interval", min_interval, 0, float("inf"))
        # every axis says what it shows: without a ylabel, the curves' names
        self.keys, self.x, self.min_interval, self.ylabel = keys, x, min_interval, ylabel or ", ".join(keys)
        self.history = None
        self._last = 0.0
        super().__init__([], title=title)

    def __call__(self, history) -> bool:
        self.history = history
        now = time.perf_counter()
        if now - self._last >= self.min_interval:
            self._last = now
            self.refresh()
        return False  # never asks training to stop

    def draw(self):
        fig, ax = plot.new_axes(size=3.4)
        fig.set_size_inches(6.0, 3.0)
        records = [] if self.history is None else self.history.records
        series = {k: [(r[self.x], r[k]) for r in records if k in r and self.x in r] for k in self.keys}
        self.state = {"keys": self.keys, "points": {k: len(v) for k, v in series.items()},
                      "last": {k: v[-1][1] for k, v in series.items() if v}}
        for k, pts in series.items():
            if pts:
                ax.plot(*zip(*pts), label=k)
        ax.set_xlabel(self.x)
        ax.set_ylabel(self.ylabel)
        if any(series.values()):
            plot.legend(ax)
            ax.set_title(", ".join(f"{k} {v:.3g}" for k, v in self.state["last"].items()), fontsize=9)
        else:
            ax.set_title("waiting for the first log point...", fontsize=9)
        return fig

    def finish(self, history=None):
        """Draw the final curves and replace the displayed static image with them."""
        if history is not None:
            self.history = history
        return super().finish()
