"""The diffusion widget of lesson 11: watch a diffusion model turn noise into data.

* :class:`DiffusionExplorer`: step through the reverse (denoising) process of a
  :class:`genlearn.models.diffusion.Diffusion` model.

The latent-path widgets of lessons 09 and 10 (animation, traversal) are in
:mod:`genlearn.widgets.latent`.
"""

from __future__ import annotations

import ipywidgets as W
import torch

from .. import plot
from .._checks import check_positive_int
from .base import FigureWidget


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
        check_positive_int("steps_between", steps_between)
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
