"""Widgets that walk a latent space, for any model with one (VAE, autoencoder, GAN, or a
function ``z -> images``), built on :mod:`genlearn.latent`.

* :class:`LatentTraversal` (lessons 04, 10): sweep one latent coordinate at a time around a
  starting code and see which factor of the images it controls.
* :class:`LatentAnimation` (lesson 09): a frame slider with a play button over images decoded
  along a path in latent space.
"""

from __future__ import annotations

import ipywidgets as W
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import plot
from .._checks import check_at_least, check_batch, check_positive, check_positive_int
from ..latent import decode, encode, kl_per_dimension, traverse
from ..models import VAE
from .base import FigureWidget


class LatentTraversal(FigureWidget):
    """Sweep one latent coordinate at a time, from -span to +span, around a starting code.

    Start from images ``x`` (N, C, H, W): the *image* slider picks one and its code (the
    encoder's mean) is the centre; for a VAE the rows are ordered by KL per dimension, most
    used first (:func:`genlearn.latent.kl_per_dimension`), at most ``max_rows`` of them. Or
    start from one code ``z0`` (Z,), of any model with a latent space. The *dimension* menu
    shows all rows or one; ``dims`` picks which coordinates are offered (default: all).
    """

    def __init__(self, model, x: torch.Tensor | None = None, *, z0: torch.Tensor | None = None,
                 n_steps: int = 9, span: float = 2.5, max_rows: int = 10, dims=None, y=None,
                 title: str = "Latent traversal"):
        if (x is None) == (z0 is None):
            raise ValueError("pass images x to encode, or one code z0, not both")
        n_steps = check_at_least("n_steps", n_steps, 2)
        check_positive("span", span)
        self.model, self.x, self.n_steps, self.y = model, x, n_steps, y
        if x is not None:
            check_batch("x", x)
            latent_dim = model.config.latent_dim
        else:
            if not isinstance(z0, torch.Tensor) or z0.dim() != 1:
                raise ValueError(f"z0 must be one (latent_dim,) code, got {getattr(z0, 'shape', type(z0))}")
            self.z0 = z0.detach().cpu()
            latent_dim = len(z0)
        dims = list(range(latent_dim)) if dims is None else [int(d) for d in dims]
        if not dims or any(not 0 <= d < latent_dim for d in dims):
            raise ValueError(f"dims must be latent indices in 0..{latent_dim - 1}, got {dims}")
        self.kl = None
        if x is not None and isinstance(model, VAE):  # order the rows by how much each dimension is used
            yy = None if y is None else torch.as_tensor(y)[:500]
            self.kl = kl_per_dimension(model, x[:500], yy)
            dims = sorted(dims, key=lambda d: -self.kl[d])
        self.order = dims[:check_positive_int("max_rows", max_rows)]
        label = (lambda d: f"z{d + 1} (KL {self.kl[d]:.2f})") if self.kl is not None else (lambda d: f"z{d + 1}")
        options = [("all (by KL)" if self.kl is not None else "all", -1)] + [(label(d), d) for d in self.order]
        self.dim = W.Dropdown(options=options, value=-1, description="dimension")
        controls = [self.dim]
        self.index = None
        if x is not None:
            self.index = W.IntSlider(value=0, min=0, max=len(x) - 1, description="image",
                                     continuous_update=False)
            controls.append(self.index)
        self.span = W.FloatSlider(value=span, min=0.5, max=max(4.0, span), step=0.25, description="span",
                                  continuous_update=False)
        controls.append(self.span)
        super().__init__(controls, title=title)

    def start(self) -> tuple[torch.Tensor, torch.Tensor, int | None]:
        """The current centre: (the image it shows, its code z0 (Z,), the label)."""
        if self.x is None:
            y = None if self.y is None else int(self.y)
            return decode(self.model, self.z0[None], y)[0], self.z0, y
        i = self.index.value
        y = None if self.y is None else int(self.y[i])
        return self.x[i], encode(self.model, self.x[i:i + 1], y)[0], y

    def draw(self):
        image, z0, y = self.start()
        dims = self.order if self.dim.value == -1 else [self.dim.value]
        values = torch.linspace(-self.span.value, self.span.value, self.n_steps)
        images = traverse(self.model, z0, dims, values, y)  # (rows, steps, C, H, W)
        self.state = {"dims": dims, "index": None if self.index is None else self.index.value,
                      "values": values.numpy(), "images": images.numpy(), "z0": z0.cpu().numpy()}
        fig = Figure(figsize=(1.0 + 0.55 * self.n_steps, 0.9 + 0.6 * len(dims)), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2, width_ratios=[1, self.n_steps])
        plot.image_grid(image[None], ncols=1, ax=ax0, title="x" if self.x is not None else "z0")
        plot.image_grid(images.flatten(0, 1), ncols=self.n_steps, ax=ax1,
                        title=f"z_j from {-self.span.value:g} to {self.span.value:g}")
        h = images.shape[-2] + 1
        ax1.set_yticks([h * (r + 0.5) for r in range(len(dims))], [f"z{d + 1}" for d in dims])
        ax1.set_axis_on()
        ax1.set_xticks([])
        for side in ax1.spines.values():
            side.set_visible(False)
        return fig


class LatentAnimation(FigureWidget):
    """Frames decoded along a latent path, with a play button and a frame slider.

    ``model``: a VAE or GAN (or a function z -> images); ``path``: (F, Z) latent codes, e.g.
    from :func:`genlearn.latent.interpolate` through several keyframes. ``interval_ms``: time
    per frame.
    """

    def __init__(self, model, path: torch.Tensor, *, interval_ms: int = 120, title: str | None = None):
        if not isinstance(path, torch.Tensor) or path.dim() != 2 or len(path) < 2:
            raise ValueError("path must be a (frames, latent_dim) tensor with at least 2 frames")
        check_positive_int("interval_ms", interval_ms)
        self.frames = decode(model, path)  # (F, C, H, W)
        if self.frames.dim() != 4:
            raise ValueError(f"the model must decode to images (F, C, H, W), got {tuple(self.frames.shape)}")
        n = len(self.frames)
        self.slider = W.IntSlider(value=0, min=0, max=n - 1, description="frame")
        self.play = W.Play(value=0, min=0, max=n - 1, interval=interval_ms, description="play")
        W.jslink((self.play, "value"), (self.slider, "value"))
        super().__init__([self.play, self.slider], title=title)

    def draw(self):
        i = int(self.slider.value)
        fig = Figure(figsize=(7.5, 3.4), layout="constrained")
        gs = fig.add_gridspec(2, 2, width_ratios=[1, 2.2])
        ax_big = fig.add_subplot(gs[:, 0])
        ax_strip = fig.add_subplot(gs[:, 1])
        cols = min(len(self.frames), 8)
        plot.image_grid(self.frames[i:i + 1], 1, ax=ax_big, title=f"frame {i + 1}/{len(self.frames)}")
        plot.image_grid(self.frames, cols, ax=ax_strip, title="all frames")
        h, w = self.frames.shape[-2:]
        r, c = divmod(i, cols)
        ax_strip.add_patch(Rectangle((c * (w + 1) + 0.5, r * (h + 1) + 0.5), w, h, fill=False,
                                     edgecolor="tab:red", linewidth=2))
        self.state = {"frame": i, "image": self.frames[i].numpy().copy()}
        return fig

