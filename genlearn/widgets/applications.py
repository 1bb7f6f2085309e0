"""Widgets for lessons 09-11: animation by latent interpolation, latent traversals, and
watching a diffusion model turn noise into data.

* :class:`LatentAnimation`: a frame slider with a play button over decoded frames along a
  path in latent space (lesson 09's "entertainment" section);
* :class:`LatentTraversal`: change one latent coordinate and watch the decoded image
  (lesson 10's transparency section);
* :class:`DiffusionExplorer`: step through the reverse (denoising) process of a
  :class:`genlearn.models.diffusion.Diffusion` model (lesson 11).
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import plot
from .base import FigureWidget


def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, frames: int, *, spherical: bool = True) -> torch.Tensor:
    """``frames`` latent codes from ``z_start`` to ``z_end`` (both (Z,)): (frames, Z).

    ``spherical``: slerp, which keeps the norm typical of a Gaussian latent (a straight line
    passes through the low-norm centre, where decoded images look washed out).
    """
    if z_start.shape != z_end.shape or z_start.dim() != 1:
        raise ValueError(f"z_start and z_end must be two (Z,) vectors, got {tuple(z_start.shape)} and {tuple(z_end.shape)}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    t = torch.linspace(0, 1, frames, device=z_start.device)[:, None]
    if not spherical:
        return (1 - t) * z_start + t * z_end
    a, b = z_start / z_start.norm(), z_end / z_end.norm()
    omega = torch.arccos((a * b).sum().clamp(-1 + 1e-6, 1 - 1e-6))
    w0, w1 = torch.sin((1 - t) * omega) / torch.sin(omega), torch.sin(t * omega) / torch.sin(omega)
    return w0 * z_start + w1 * z_end


def _decoder(model):
    """A function z -> images in [0, 1] on the CPU, for VAEs (decoder means) and GANs."""
    if hasattr(model, "decode") and hasattr(model, "mean"):
        return lambda z: model.mean(model.decode(z.to(model.device))).detach().cpu()
    if hasattr(model, "sample"):
        return lambda z: model.sample(len(z), z=z).detach().cpu()
    if callable(model):
        return lambda z: torch.as_tensor(model(z)).detach().cpu()
    raise TypeError(f"expected a VAE, a GAN or a function z -> images, got {type(model).__name__}")


class LatentAnimation(FigureWidget):
    """Frames decoded along a latent path, with a play button and a frame slider.

    ``model``: a VAE or GAN (or a function z -> images); ``path``: (F, Z) latent codes, e.g.
    from :func:`interpolate` through several keyframes. ``interval_ms``: time per frame.
    """

    def __init__(self, model, path: torch.Tensor, *, interval_ms: int = 120, title: str | None = None):
        if not isinstance(path, torch.Tensor) or path.dim() != 2 or len(path) < 2:
            raise ValueError("path must be a (frames, latent_dim) tensor with at least 2 frames")
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
        with torch.no_grad():
            self.frames = _decoder(model)(path)  # (F, C, H, W)
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
        plot.image_grid(self.frames[i:i + 1], 1, ax=ax_big, title=f"frame {i + 1}/{len(self.frames)}")
        plot.image_grid(self.frames, min(len(self.frames), 8), ax=ax_strip, title="all frames")
        h, w = self.frames.shape[-2:]
        cols = min(len(self.frames), 8)
        r, c = divmod(i, cols)
        ax_strip.add_patch(Rectangle((c * (w + 1) + 0.5, r * (h + 1) + 0.5), w, h, fill=False,
                                          edgecolor="tab:red", linewidth=2))
        self.state = {"frame": i, "image": self.frames[i].numpy().copy()}
        return fig


class LatentTraversal(FigureWidget):
    """Vary one latent coordinate of ``z0`` and look at the decoded image and the whole row.

    ``model``: a VAE or GAN (or a function z -> images); ``z0``: (Z,) the starting code;
    ``span``: the slider covers [-span, span] (prior standard deviations).
    """

    def __init__(self, model, z0: torch.Tensor, *, span: float = 3.0, steps: int = 7,
                 dims: list[int] | None = None, title: str | None = None):
        if not isinstance(z0, torch.Tensor) or z0.dim() != 1:
            raise ValueError("z0 must be a (latent_dim,) tensor")
        if span <= 0:
            raise ValueError(f"span must be > 0, got {span}")
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        dims = list(range(len(z0))) if dims is None else list(dims)
        bad = [d for d in dims if not 0 <= d < len(z0)]
        if bad or not dims:
            raise ValueError(f"dims must be latent indices in 0..{len(z0) - 1}, got {dims}")
        self.decode, self.z0, self.span, self.steps = _decoder(model), z0.detach().cpu(), span, steps
        self.dim = W.Dropdown(options=[(f"z[{d}]", d) for d in dims], value=dims[0], description="latent")
        self.value = W.FloatSlider(value=0.0, min=-span, max=span, step=span / 20, description="value",
                                   continuous_update=False)
        super().__init__([self.dim, self.value], title=title)

    def codes(self, dim: int, values) -> torch.Tensor:
        z = self.z0.repeat(len(values), 1)
        z[:, dim] = torch.as_tensor(values, dtype=z.dtype)
        return z

    def draw(self):
        d, v = int(self.dim.value), float(self.value.value)
        with torch.no_grad():
            row = self.decode(self.codes(d, np.linspace(-self.span, self.span, self.steps)))
            current = self.decode(self.codes(d, [v]))
        fig = Figure(figsize=(8, 2.6), layout="constrained")
        ax_cur, ax_row = fig.subplots(1, 2, width_ratios=[1, 3.5])
        plot.image_grid(current, 1, ax=ax_cur, title=f"z[{d}] = {v:+.2f}")
        plot.image_grid(row, self.steps, ax=ax_row,
                        title=f"z[{d}] from {-self.span:g} to {self.span:g}, other coordinates fixed")
        self.state = {"dim": d, "value": v, "image": current[0].numpy().copy()}
        return fig


class DiffusionExplorer(FigureWidget):
    """Step through a diffusion model's reverse process, from noise (t = T) to data (t = 0).

    ``trajectory``: the list returned by ``Diffusion.sample(..., return_trajectory=True)``
    (x_T first); ``steps_between``: the model steps between kept frames (``keep_every``).
    ``reference``: data points drawn in grey behind the samples.
    """

    def __init__(self, trajectory, *, steps_between: int = 1, reference: torch.Tensor | None = None,
                 lim: float | None = None, title: str | None = None):
        if not isinstance(trajectory, (list, tuple)) or len(trajectory) < 2:
            raise ValueError("trajectory must be a list of at least 2 (N, 2) tensors (x_T ... x_0)")
        if any(t.dim() != 2 or t.shape[1] != 2 for t in trajectory):
            raise ValueError("every frame of the trajectory must be (N, 2) points")
        if steps_between < 1:
            raise ValueError(f"steps_between must be >= 1, got {steps_between}")
        self.trajectory, self.steps_between, self.reference = list(trajectory), steps_between, reference
        ref = [reference] if reference is not None else []
        self.lim = lim or float(torch.cat([trajectory[-1], *ref]).abs().quantile(0.995)) * 1.3
        n = len(trajectory) - 1
        self.slider = W.IntSlider(value=n, min=0, max=n, description="denoise")
        super().__init__([self.slider], title=title)

    def draw(self):
        i = int(self.slider.value)
        t_left = (len(self.trajectory) - 1 - i) * self.steps_between
        x = self.trajectory[i]
        fig = plot.scatter2d(x, reference=self.reference, lim=self.lim,
                             title=f"{i * self.steps_between} denoising steps (t = {t_left})", size=3.8)
        self.state = {"index": i, "t": t_left, "spread": float(x.std())}
        return fig
