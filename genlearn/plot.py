"""Matplotlib helpers: image grids, 2D scatters, surfaces, latent maps and training curves.

Every helper draws on an ``ax`` if given, else on a new figure, and returns the figure.
Figures are made with ``matplotlib.figure.Figure`` rather than ``pyplot``, so they never
open windows and never pile up in pyplot's memory. In a notebook a figure displays once when
it is a cell's last value, provided inline display is on (``%matplotlib inline``, the first
code cell of every lesson); anywhere else, save it with :func:`save`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

# Colour-blind-safe colours (tests/test_palette.py checks every pair, and white, stay apart
# under simulated protanopia, deuteranopia and tritanopia). PALETTE: Okabe & Ito's eight, the
# colour cycle of every genlearn figure. CATEGORICAL: Paul Tol's "muted" nine plus black, for
# up to ten classes (the digits), as a colormap for scatter plots coloured by label.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#F0E442")
CATEGORICAL = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933",
               "#AA4499", "#000000")
CATEGORICAL_CMAP = ListedColormap(CATEGORICAL, name="genlearn_categorical")


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def new_axes(*, nrows: int = 1, ncols: int = 1, size: float = 3.2, **kw):
    """A figure with ``nrows`` x ``ncols`` square axes of side ``size`` inches, returned as
    ``(fig, axes)`` and squeezed like ``pyplot.subplots`` (one axes, or an array of them).
    Keywords only, so ``new_axes(ncols=3)`` (a row of three) cannot be read the wrong way."""
    fig = Figure(figsize=(size * ncols, size * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kw)
    for ax in np.atleast_1d(axes).ravel():
        ax.set_prop_cycle(color=PALETTE)
    return fig, axes


def _fig_ax(ax, size=3.2):
    if ax is None:
        return new_axes(size=size)
    return ax.figure, ax


def tile(images, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) images -> one (rows*H, cols*W[, C]) mosaic array in [0, 1],
    ``ncols`` images per row (default: as square as possible), filled row by row."""
    x = _np(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    if n == 0:
        raise ValueError("no images to show")
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    canvas = np.ones((c, nrows * (h + pad) + pad, ncols * (w + pad) + pad), dtype=np.float32) * 0.5
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, top:top + h, left:left + w] = x[i]
    canvas = np.clip(canvas, 0, 1)
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


def image_grid(images, ncols: int | None = None, *, ax=None, title: str | None = None, size: float = 4.0):
    """Show a batch of images as one grid, ``ncols`` images per row (grey images in black and white)."""
    fig, ax = _fig_ax(ax, size)
    ax.imshow(tile(images, ncols), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def scatter2d(samples, *, reference=None, centers=None, ax=None, title: str | None = None,
              lim: float | None = None, size: float = 3.6, label: str = "samples",
              reference_label: str = "data", legend: bool | None = None):
    """2D points ``samples`` (orange) under ``reference`` data (small blue dots) and mode
    ``centers`` (open black circles, so the points at a centre stay visible), with a legend.

    The data are drawn smaller and on top, so they stay visible where samples cover them; where
    samples miss the data, the two colours stand apart. ``label`` / ``reference_label`` name the two sets
    in the legend (e.g. ``label="data"`` when ``samples`` is the data itself); ``legend``
    defaults to on whenever more than one kind of thing is drawn.
    """
    fig, ax = _fig_ax(ax, size)
    if reference is not None:
        r = _np(reference)
        ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:blue", alpha=0.5, linewidths=0,
                   label=reference_label, rasterized=True, zorder=2)
    s = _np(samples)
    colour = "tab:blue" if label == reference_label else "tab:orange"   # the data alone: blue
    ax.scatter(s[:, 0], s[:, 1], s=5, c=colour, alpha=0.5, linewidths=0,
               label=label, rasterized=True, zorder=1)
    if centers is not None:
        c = _np(centers)
        ax.scatter(c[:, 0], c[:, 1], marker="o", s=90, facecolors="none", edgecolors="k",
                   linewidths=0.9, label="mode centres", zorder=3)
    if lim is None:
        pts = np.concatenate([s] + ([_np(reference)] if reference is not None else []))
        lim = float(np.nanpercentile(np.abs(pts), 99.5)) * 1.15 + 0.1
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if legend is None:
        legend = reference is not None or centers is not None
    if legend:
        handles = ax.legend(fontsize=6, loc="best", handletextpad=0.1, borderpad=0.2, labelspacing=0.2,
                            framealpha=0.8).legend_handles
        for h in handles:  # legend markers opaque and readable, whatever the points' size
            h.set_alpha(1)
            h.set_sizes([40 if h.get_facecolor().size == 0 else 20])
    if title:
        ax.set_title(title)
    return fig


@torch.no_grad()
def surface(fn, *, lim: float = 3.0, n: int = 100, ax=None, title: str | None = None,
            cmap: str = "RdBu_r", device=None):
    """Colour the plane by ``fn`` (e.g. a discriminator's D(x)), evaluated on an n x n grid."""
    fig, ax = _fig_ax(ax)
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    if device is not None:
        pts = pts.to(device)
    values = _np(fn(pts)).reshape(n, n)
    im = ax.imshow(values, origin="lower", extent=(-lim, lim, -lim, lim), cmap=cmap, alpha=0.8)
    fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title)
    return fig


def latent_scatter(z, labels=None, *, ax=None, title: str | None = None, class_names=None):
    """Encoded points in a 2D latent space, coloured by label."""
    fig, ax = _fig_ax(ax, 4.0)
    z = _np(z)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"z must be (N, >=2), got shape {z.shape}")
    sc = ax.scatter(z[:, 0], z[:, 1], c=None if labels is None else _np(labels), cmap=CATEGORICAL_CMAP, s=6)
    if labels is not None:
        handles, _ = sc.legend_elements()
        names = class_names or [str(v) for v in np.unique(_np(labels))]
        ax.legend(handles, names, fontsize=7, loc="best", markerscale=0.8)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig


def curves(history, keys, *, ax=None, title: str | None = None, x: str = "step", logy: bool = False):
    """Training curves of the given history keys against ``x`` (step, epoch or time)."""
    fig, ax = _fig_ax(ax, 4.0)
    keys = [keys] if isinstance(keys, str) else list(keys)
    for key in keys:
        recs = [r for r in history.records if key in r and x in r]
        if not recs:
            raise KeyError(f"no records with both {x!r} and {key!r}")
        ax.plot([r[x] for r in recs], [r[key] for r in recs], label=key)
    ax.set_xlabel(x)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def save(fig, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
