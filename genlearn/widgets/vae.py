r"""Widgets for the autoencoder and VAE lessons (02-04), and the small functions behind them.

* :class:`ReconstructionBrowser` (02): images beside their reconstructions, for models of
  different bottleneck sizes.
* :class:`LatentExplorer` (03): one ``FloatSlider`` per latent dimension; the decoder's
  image of that ``z`` redraws live (and, for a 2D latent, where ``z`` sits on the map of
  encoded data).
* :class:`BetaSelector` (04): compare VAEs trained with different ``beta``: KL per latent
  dimension, traversals, and how each dimension correlates with known factors.

The latent helpers they use (encode, decode, traverse, KL per dimension, factor
correlations) live in :mod:`genlearn.latent`; the latent traversal widget of lesson 04 is
:class:`genlearn.widgets.latent.LatentTraversal`.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch

from matplotlib.figure import Figure

from .. import plot
from .._checks import check_batch, check_positive, check_positive_int, check_range
from ..latent import decode, encode, factor_correlations, kl_per_dimension, traverse
from .base import FigureWidget


# ============================================================================ widgets


class ReconstructionBrowser(FigureWidget):
    """Originals (top row) and their reconstructions (below), one model per bottleneck size.

    ``models``: ``{label: model}`` (e.g. ``{2: ae2, 8: ae8}``); ``x``: images (N, C, H, W).
    """

    def __init__(self, models: dict, x: torch.Tensor, n_show: int = 10):
        if not models:
            raise ValueError("models must be a non-empty {label: model} dict")
        check_batch("x", x)
        check_range("n_show", n_show, 1, len(x))
        self.models, self.x, self.n_show = dict(models), x, n_show
        self.errors = {k: m.reconstruction_error(x) if hasattr(m, "reconstruction_error")
                       else float((m.reconstruct(x.to(m.device)).cpu() - x).square().flatten(1).sum(1).mean())
                       for k, m in self.models.items()}
        labels = list(self.models)
        self.which = W.SelectionSlider(options=labels, value=labels[-1], description="bottleneck",
                                       continuous_update=False)
        self.start = W.IntSlider(value=0, min=0, max=len(x) - n_show, step=n_show,
                                 description="first image", continuous_update=False)
        super().__init__([self.which, self.start], title="Reconstructions vs bottleneck size")

    def draw(self):
        model = self.models[self.which.value]
        x = self.x[self.start.value:self.start.value + self.n_show]
        recon = model.reconstruct(x.to(model.device)).cpu()
        self.state = {"model": self.which.value, "start": self.start.value,
                      "recon": recon.numpy(), "error": self.errors[self.which.value]}
        # the pairs above the error curve: side by side they needed more than the 9.5 in a
        # notebook shows unscaled, and wrapping would separate each x from its reconstruction
        fig = Figure(figsize=(9.5, 4.8), layout="constrained")
        panel = fig.subplot_mosaic([["grid", "grid"], ["curve", "."]], height_ratios=[1.5, 2.3],
                                   width_ratios=[1, 1.2])
        grid, curve = panel["grid"], panel["curve"]
        labels = list(self.errors)
        curve.plot(range(len(labels)), list(self.errors.values()), "o-")
        curve.plot([labels.index(self.which.value)], [self.errors[self.which.value]], "o", c="r", ms=9)
        curve.set_xticks(range(len(labels)), [str(k) for k in labels])
        curve.set_xlabel("bottleneck size")
        curve.set_ylabel("squared error / image")
        plot.image_grid(torch.cat([x, recon]), ncols=len(x), ax=grid, row_labels=["x", "recon."],
                        title=f"top: x, bottom: reconstruction (z size {self.which.value})")
        return fig


class LatentExplorer(FigureWidget):
    """Sliders over z; the decoder's image of z, live.

    With a 2D latent and ``data`` (an image dataset or tensor), the right panel shows the
    encoded data, coloured by label, and a red cross where the sliders put z. For a
    conditional VAE a dropdown picks the label y. ``n_sliders`` caps the sliders (the
    remaining dimensions stay at 0, the prior's mean).
    """

    def __init__(self, model, data=None, *, n_sliders: int = 8, lim: float = 3.0, step: float = 0.05,
                 class_names=None):
        latent_dim = model.config.latent_dim
        check_positive_int("n_sliders", n_sliders)
        check_positive("lim", lim)
        self.model, self.lim = model, lim
        self.sliders = [W.FloatSlider(value=0.0, min=-lim, max=lim, step=step, description=f"z{j + 1}",
                                      continuous_update=True, readout_format=".2f")
                        for j in range(min(n_sliders, latent_dim))]
        controls = list(self.sliders)
        n_classes = getattr(model.config, "n_classes", 0)
        self.label = None
        if n_classes:
            names = list(class_names or range(n_classes))
            self.label = W.Dropdown(options=[(str(n), i) for i, n in enumerate(names)], value=0,
                                    description="label y")
            controls.append(self.label)
        self.map = None
        if data is not None and latent_dim == 2:
            x, y = (data.x, data.y) if hasattr(data, "x") else (data, None)
            class_names = class_names or getattr(data, "class_names", None) or None
            self.map = (encode(model, x, y if n_classes else None).cpu(), y, class_names)
        super().__init__(controls, title="Latent explorer: z -> decoder -> x")

    @property
    def z(self) -> torch.Tensor:
        z = torch.zeros(self.model.config.latent_dim)
        z[:len(self.sliders)] = torch.tensor([s.value for s in self.sliders])
        return z

    def set_z(self, values) -> None:
        """Move the sliders (one redraw per slider moved)."""
        for s, v in zip(self.sliders, values):
            s.value = float(v)

    @torch.no_grad()
    def draw(self):
        z = self.z
        y = None if self.label is None else self.label.value
        image = decode(self.model, z[None], y)[0]
        self.state = {"z": z.numpy(), "y": y, "image": image.numpy()}
        panels = 2 if self.map is not None else 1
        fig, axes = plot.new_axes(ncols=panels, size=3.2)
        axes = np.atleast_1d(axes)
        plot.image_grid(image[None], ncols=1, ax=axes[0], title="decoded x = E[x|z]")
        # the grey levels are the decoder's pixel values (a probability for Bernoulli pixels):
        # the scale says which are above one half, and that the grid's frame is not a pixel
        bar = fig.colorbar(axes[0].images[0], ax=axes[0], fraction=0.046, pad=0.04)
        bar.set_label("pixel value E[x|z]")
        if self.map is not None:
            codes, labels, names = self.map
            plot.latent_scatter(codes, labels, ax=axes[1], title="encoded data (mu)",
                                class_names=None if names is None else list(names))
            axes[1].plot([z[0]], [z[1]], "x", c="r", ms=12, mew=3)
            axes[1].set_xlim(-self.lim, self.lim)
            axes[1].set_ylim(-self.lim, self.lim)
        return fig


class BetaSelector(FigureWidget):
    r"""Compare VAEs trained with different :math:`\beta`: pick one, see its KL per dimension,
    the traversals of its most used dimensions, and (with ``factors``) how each dimension
    correlates with the known factors of the data.

    ``models``: ``{beta: model}``; ``x``: images; ``factors``: (N, F) ground truth with
    ``factor_names``.
    """

    def __init__(self, models: dict, x: torch.Tensor, factors: torch.Tensor | None = None,
                 factor_names=(), *, n_rows: int = 5, n_steps: int = 7, span: float = 2.5,
                 n_eval: int = 1000):
        if not models:
            raise ValueError("models must be a non-empty {beta: model} dict")
        check_batch("x", x)
        if factors is not None and len(factors) != len(x):
            raise ValueError(f"{len(x)} images but {len(factors)} factor rows")
        self.models, self.x, self.factors = dict(models), x, factors
        self.factor_names = list(factor_names) or (
            [] if factors is None else [f"f{i}" for i in range(factors.shape[1])])
        self.n_rows, self.n_steps, self.span = n_rows, n_steps, span
        sub = x[:n_eval]
        self.n_eval = len(sub)          # the KL's sorting depends on it: the title says how many
        self.kl = {b: kl_per_dimension(m, sub) for b, m in self.models.items()}
        self.corr = ({b: factor_correlations(m, sub, factors[:n_eval]) for b, m in self.models.items()}
                     if factors is not None else {})
        betas = list(self.models)
        self.beta = W.ToggleButtons(options=[(f"beta = {b:g}", b) for b in betas], value=betas[0],
                                    description="model")
        self.index = W.IntSlider(value=0, min=0, max=len(x) - 1, description="image",
                                 continuous_update=False)
        super().__init__([self.beta, self.index], title="beta-VAE: which model?")

    def draw(self):
        beta, i = self.beta.value, self.index.value
        model, kl = self.models[beta], self.kl[beta]
        dims = [int(d) for d in np.argsort(-kl)][:self.n_rows]
        z0 = encode(model, self.x[i:i + 1])[0]
        values = torch.linspace(-self.span, self.span, self.n_steps)
        images = traverse(model, z0, dims, values)
        self.state = {"beta": beta, "index": i, "dims": dims, "kl": kl, "images": images.numpy(),
                      "corr": self.corr.get(beta)}
        # traversals on the left, full height; KL (and correlations) stacked on the right:
        # a row of three panels was 11 in wide, and a notebook scaled it down
        fig = Figure(figsize=(9.5, 6.4 if self.corr else 4.2), layout="constrained")
        mosaic = [["trav", "kl"], ["trav", "corr"]] if self.corr else [["trav", "kl"]]
        panel = fig.subplot_mosaic(mosaic, width_ratios=[2.1, 1])
        used = int((kl > 0.1).sum())
        panel["kl"].bar(range(1, len(kl) + 1), kl)
        panel["kl"].set_xlabel("latent dimension j")
        panel["kl"].xaxis.get_major_locator().set_params(integer=True)
        panel["kl"].set_ylabel("KL(q(z_j|x) || N(0,1)), nats")
        panel["kl"].set_title(f"beta = {beta:g}: {used} dims used\n(KL averaged over {self.n_eval} images)",
                              fontsize=10)
        if self.corr:
            c = self.corr[beta][dims]
            im = panel["corr"].imshow(c, vmin=0, vmax=1, cmap="magma")
            panel["corr"].set_yticks(range(len(dims)), [f"z{d + 1}" for d in dims])
            panel["corr"].set_xticks(range(len(self.factor_names)), self.factor_names, rotation=45)
            panel["corr"].set_ylabel("latent dimension")
            panel["corr"].set_xlabel("factor of the data")
            panel["corr"].set_title(f"|corr(mu_j, factor)| on {self.n_eval} images", fontsize=10)
            fig.colorbar(im, ax=panel["corr"], shrink=0.8, label="|correlation|")
        plot.image_grid(images.flatten(0, 1), ncols=self.n_steps, ax=panel["trav"],
                        title=f"traversals of image {i}, most used dims first",
                        row_labels=[f"z{d + 1}" for d in dims], col_labels=[f"{round(v, 1) + 0.0:g}" for v in values.tolist()],
                        xlabel=f"value of z_j, from {-self.span:g} to {self.span:g} (other dims: the image's code)",
                        ylabel="dimension changed")
        return fig
