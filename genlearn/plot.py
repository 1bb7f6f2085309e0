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
from matplotlib.patches import Rectangle

# Colour-blind-safe colours (tests/test_palette.py checks every pair, and white, stay apart
# under simulated protanopia, deuteranopia and tritanopia). PALETTE: Okabe & Ito's eight, the
# colour cycle of every genlearn figure. CATEGORICAL: Paul Tol's "muted" nine plus black, for
# up to ten classes (the digits), as a colormap for scatter plots coloured by label.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#F0E442")
CATEGORICAL = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933",
               "#AA4499", "#000000")
CATEGORICAL_CMAP = ListedColormap(CATEGORICAL, name="genlearn_categorical")
# A second cue beside colour, one marker per class: some pairs of ten colours stay close on small
# dots (Tol's indigo and black, wine and purple), so classes differ in shape too.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")

# What every genlearn figure guarantees a reader, at any dpi (figures are sized in inches):
MIN_IMAGE_INCHES = 0.65   # the side of one image in an image grid (65 px at the default 100 dpi)
# The widest figure a helper makes. JupyterLab, the course site and GitHub scale a wider image
# down to the output column (about 9-10 inches at the figure's dpi), and every size above would
# shrink with it; within this width a figure is shown at the size it was drawn.
MAX_FIGURE_INCHES = 9.5
MIN_LEGEND_FONTSIZE = 8   # points; legends in 6-7 pt came out at about 5 px tall in saved figures


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def new_axes(*, nrows: int = 1, ncols: int = 1, size: float = 3.2, **kw):
    """A figure with ``nrows`` x ``ncols`` square axes of side ``size`` inches (smaller when
    ``ncols`` of them would be wider than :data:`MAX_FIGURE_INCHES`), returned as
    ``(fig, axes)`` and squeezed like ``pyplot.subplots`` (one axes, or an array of them).
    Keywords only, so ``new_axes(ncols=3)`` (a row of three) cannot be read the wrong way."""
    size = min(size, MAX_FIGURE_INCHES / ncols)   # never wider than a notebook shows unscaled
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


def image_grid(images, ncols: int | None = None, *, ax=None, title: str | None = None, size: float = 4.0,
               row_labels=None, col_labels=None, xlabel: str | None = None, ylabel: str | None = None):
    """Show a batch of images as one grid, ``ncols`` images per row (grey images in black and white).

    Each image is shown at least :data:`MIN_IMAGE_INCHES` on a side, in a figure at most
    :data:`MAX_FIGURE_INCHES` wide (see :func:`fit_image_grid`): the figure first grows (every
    panel in proportion) up to that width, then the grid wraps into fewer columns and more rows;
    a grid that would still be taller than that shows its first images and says so in its title.

    ``row_labels`` / ``col_labels`` name each row / column (a traversal: which z_j, which
    value), with ``xlabel`` / ``ylabel`` beside them; a labelled grid never wraps (its rows
    and columns mean something), so its axes must be wide enough for its columns."""
    own = ax is None
    fig, ax = _fig_ax(ax, size)
    x = _np(images)
    tile(x[:1])                                            # the shape check, before any drawing
    ncols = min(ncols or int(np.ceil(np.sqrt(len(x)))), len(x))
    labelled = row_labels is not None or col_labels is not None
    if labelled:
        h, w = x.shape[-2:]
        nrows = int(np.ceil(len(x) / ncols))
        for labels, count, name in ((row_labels, nrows, "row_labels"), (col_labels, ncols, "col_labels")):
            if labels is not None and len(labels) != count:
                raise ValueError(f"{name} must name each of the {count} {name[:3]}s, got {len(labels)}")
        ax.set_frame_on(False)
        ax.tick_params(length=0)
        ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(nrows)] if row_labels is not None else [],
                      row_labels if row_labels is not None else [])
        ax.set_xticks([1 + c * (w + 1) + (w - 1) / 2 for c in range(ncols)] if col_labels is not None else [],
                      col_labels if col_labels is not None else [])
        ax.set_xlabel(xlabel or "")
        ax.set_ylabel(ylabel or "")
    else:
        ax.set_axis_off()
    fit_image_grid(ax, x, ncols, title, wrap=not labelled)
    # grids drawn earlier in this figure were fitted while this axes still had ticks and
    # labels taking room: give them the columns they asked for again, then wrap as needed
    for other in fig.axes:
        grid = getattr(other, "genlearn_grid", None)
        if other is not ax and grid and grid["ncols"] < grid["asked"][1]:
            fit_image_grid(other, *grid["asked"][:3], wrap=grid["asked"][3])
    grids = [a for a in fig.axes if getattr(a, "genlearn_grid", None)]
    if own or len(grids) == len(fig.axes):
        _trim_height(fig, grids)
    return fig


def _trim_height(fig, grids) -> None:
    """Take off the blank band above and below the grids of a figure that holds only grids
    (growing it until the widest fitted left the others, and itself, taller than needed)."""
    fig.draw_without_rendering()
    fw, fh = fig.get_size_inches()
    spare = min(a.get_position(original=True).height * fh - a.images[0].get_window_extent().height / fig.dpi
                for a in grids)
    if spare > 0.05:
        fig.set_size_inches(fw, fh - spare)
        for a in grids:
            asked = a.genlearn_grid["asked"]
            fit_image_grid(a, asked[0], a.genlearn_grid["ncols"], asked[2], wrap=asked[3])


def _draw_grid(ax, x, ncols: int, title: str | None, shown: int, asked: tuple) -> None:
    for im in list(ax.images):
        im.remove()
    ax.imshow(tile(x[:shown], ncols), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    note = f"first {shown} of {len(x)}" if shown < len(x) else ""
    if title or note:
        ax.set_title(f"{title} ({note})" if title and note else title or note)
    ax.genlearn_grid = {"ncols": ncols, "nrows": int(np.ceil(shown / ncols)), "shown": shown,
                        "image_hw": tuple(x.shape[-2:]), "asked": asked}


def shown_image_inches(ax) -> float:
    """The shorter side, in inches, at which an :func:`image_grid` in ``ax`` draws one image."""
    ax.figure.draw_without_rendering()
    grid = ax.genlearn_grid
    extent = ax.images[0].get_window_extent()
    rows_px, cols_px = ax.images[0].get_array().shape[:2]
    scale = min(extent.width / cols_px, extent.height / rows_px)   # display pixels per image pixel
    return scale * min(grid["image_hw"]) / ax.figure.dpi


def fit_image_grid(ax, x, ncols: int, title: str | None = None, *, wrap: bool = True) -> None:
    """Draw images ``x`` as a grid in ``ax`` and resize the figure (or wrap the grid) until each
    image is at least :data:`MIN_IMAGE_INCHES` on a side. Sizes are measured after layout
    (constrained layout's margins are fixed in inches, so growth is not exactly proportional):
    1. grow the whole figure in proportion while it is narrower than :data:`MAX_FIGURE_INCHES`;
    2. at that width, use fewer columns if the axes is too narrow for them, else grow the height;
    3. keep the grid at most as tall as the maximum width: the rest of the images are left out
       and the title says how many are shown."""
    fig, n = ax.figure, len(x)
    need = MIN_IMAGE_INCHES * 1.01
    shown, asked = n, (x, ncols, title, wrap)
    _draw_grid(ax, x, ncols, title, shown, asked)
    h, w = x.shape[-2:]
    for _ in range(16):
        side = shown_image_inches(ax)
        if side >= MIN_IMAGE_INCHES:
            return
        fw, fh = fig.get_size_inches()
        if fw < MAX_FIGURE_INCHES - 1e-6:
            grow = min(need / side * 1.03, MAX_FIGURE_INCHES / fw)   # margins stay: a little more
            fig.set_size_inches(fw * grow, fh * grow)
            continue
        box = ax.get_position(original=True)
        ax_w = box.width * fw
        per_px = ax_w / (ncols * (w + 1) + 1)                 # inches per mosaic pixel, width-limited
        if per_px * min(h, w) < need and ncols > 1:         # too many columns: wrap
            if not wrap:
                raise ValueError(f"a labelled grid of {ncols} columns needs an axes at least "
                                 f"{ncols * need * (w + 1) / min(h, w):.1f} in wide, this one is {ax_w:.1f} in")
            ncols = max(1, int((ax_w / need * min(h, w) - 1) // (w + 1)))
            rows = int(np.ceil(n / ncols))
            max_rows = max(1, int(MAX_FIGURE_INCHES // (need * (h + 1) / min(h, w))))
            shown = min(n, max_rows * ncols) if rows > max_rows else n
            _draw_grid(ax, x, ncols, title, shown, asked)
        else:                                                # wide enough: grow the height
            fig.set_size_inches(fw, fh * need / side * 1.02)
    raise RuntimeError(f"could not fit {n} images of {h}x{w} at {MIN_IMAGE_INCHES} in each "
                       f"into a figure {MAX_FIGURE_INCHES} in wide")


def legend(ax, *args, fontsize: float | None = None, outside: bool | None = None, **kw):
    """``ax.legend(...)`` with genlearn's guarantees: text at least :data:`MIN_LEGEND_FONTSIZE`
    points, and placed outside the axes (to its right) when, at matplotlib's best spot inside,
    it would cover any data point, line or bar. ``outside=True/False`` forces the choice."""
    kw["fontsize"] = max(fontsize or MIN_LEGEND_FONTSIZE, MIN_LEGEND_FONTSIZE)
    kw.setdefault("loc", "best")
    leg = ax.legend(*args, **kw)
    if outside is None:
        outside = covers_data(ax, leg)
    if outside:
        kw.update(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        leg = ax.legend(*args, **kw)
    return leg


_legend = legend   # for helpers whose `legend` argument shadows the function
MARKER_REACH_POINTS = 6   # the radius of scatter2d's largest marker (the hollow centres), in points


def figure_legend(fig, *axes, **kw):
    """One legend for a figure of panels that draw the same kinds of things (scatter2d's data,
    samples and centres), below the panels, built from the entries of ``axes`` (each label
    once): a legend per panel would shrink every panel or cover its data."""
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    kw.setdefault("ncols", len(labels))
    kw["fontsize"] = max(kw.get("fontsize") or MIN_LEGEND_FONTSIZE, MIN_LEGEND_FONTSIZE)
    leg = fig.legend(handles, labels, loc="outside lower center", **kw)
    _readable_markers(leg)
    return leg


def _readable_markers(leg) -> None:
    """Legend markers opaque and readable, whatever the size and transparency of the points."""
    for h in leg.legend_handles:
        if hasattr(h, "set_sizes"):
            h.set_alpha(1)
            h.set_sizes([40 if h.get_facecolor().size == 0 else 20])


def _data_points(ax) -> np.ndarray:
    """Display coordinates of what ``ax`` draws: scatter offsets, and points along lines and
    patch outlines (each segment sampled, so a line crossing a box counts even between vertices)."""
    pts = [np.empty((0, 2))]
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if len(offsets):
            pts.append(coll.get_offset_transform().transform(offsets))
    paths = [(line.get_xydata(), line.get_transform()) for line in ax.lines]
    paths += [(patch.get_path().vertices, patch.get_transform()) for patch in ax.patches
              if not isinstance(patch, Rectangle)]
    for xy, transform in paths:
        xy = transform.transform(np.asarray(xy, dtype=float))
        xy = xy[np.isfinite(xy).all(1)]
        if len(xy) >= 2:
            t = np.linspace(0, 1, 12)[:, None, None]
            xy = (xy[:-1] * (1 - t) + xy[1:] * t).reshape(-1, 2)
        pts.append(xy)
    return np.concatenate(pts)


def covers_data(ax, leg) -> bool:
    """Whether legend ``leg``, where matplotlib would draw it now, lies over anything ``ax`` plots
    (a point counts when its marker would reach under the legend's frame)."""
    fig = ax.figure
    fig.draw_without_rendering()                # resolves the layout and loc="best"
    box = leg.get_window_extent().padded(MARKER_REACH_POINTS * fig.dpi / 72)
    # twins (ax.twinx()) share the box: their lines lie under the legend as well
    layers = [a for a in fig.axes if a is ax or a.get_position().bounds == ax.get_position().bounds]
    pts = np.concatenate([_data_points(a) for a in layers])
    inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1))
    bars = [patch.get_window_extent() for a in layers for patch in a.patches if isinstance(patch, Rectangle)]
    return bool(inside.any()) or any(bar.overlaps(box) and bar.height > 0 for bar in bars)


def scatter2d(samples, *, reference=None, centers=None, ax=None, title: str | None = None,
              lim: float | None = None, size: float = 3.6, label: str = "samples",
              reference_label: str = "data", legend: bool | None = None,
              xlabel: str = "$x_1$", ylabel: str = "$x_2$"):
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
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend is None:
        legend = reference is not None or centers is not None
    if legend:
        _readable_markers(_legend(ax, handletextpad=0.1, borderpad=0.2, labelspacing=0.2, framealpha=0.8))
    return fig


@torch.no_grad()
def surface(fn, *, lim: float = 3.0, n: int = 100, ax=None, title: str | None = None,
            cmap: str = "RdBu_r", device=None, label: str | None = None):
    """Colour the plane by ``fn`` (e.g. a discriminator's D(x)), evaluated on an n x n grid;
    ``label`` names the colour bar (what ``fn`` returns)."""
    fig, ax = _fig_ax(ax)
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    if device is not None:
        pts = pts.to(device)
    values = _np(fn(pts)).reshape(n, n)
    im = ax.imshow(values, origin="lower", extent=(-lim, lim, -lim, lim), cmap=cmap, alpha=0.8)
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return fig


def latent_scatter(z, labels=None, *, ax=None, title: str | None = None, class_names=None):
    """Encoded points in a 2D latent space, coloured by label."""
    fig, ax = _fig_ax(ax, 4.0)
    z = _np(z)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"z must be (N, >=2), got shape {z.shape}")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=6, c=PALETTE[1])
        return fig
    labels = _np(labels)
    classes = np.unique(labels)
    names = class_names or [str(int(v)) if float(v).is_integer() else str(v) for v in classes]
    for k, (value, name) in enumerate(zip(classes, names)):   # colour and marker per class
        at = labels == value
        ax.scatter(z[at, 0], z[at, 1], s=9, color=CATEGORICAL[k % len(CATEGORICAL)],
                   marker=MARKERS[k % len(MARKERS)], linewidths=0, label=name)
    legend(ax, markerscale=1.5, handletextpad=0.2, labelspacing=0.3)
    return fig


def curves(history, keys, *, ax=None, title: str | None = None, x: str = "step", logy: bool = False,
           ylabel: str | None = None):
    """Training curves of the given history keys against ``x`` (step, epoch or time);
    ``ylabel`` names the y axis (default: the keys)."""
    fig, ax = _fig_ax(ax, 4.0)
    keys = [keys] if isinstance(keys, str) else list(keys)
    for key in keys:
        recs = [r for r in history.records if key in r and x in r]
        if not recs:
            raise KeyError(f"no records with both {x!r} and {key!r}")
        ax.plot([r[x] for r in recs], [r[key] for r in recs], label=key)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or ", ".join(keys))
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    legend(ax)
    return fig


def save(fig, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
