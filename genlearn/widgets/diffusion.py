"""The diffusion widget of lesson 11: watch a diffusion model turn noise into data.

* :class:`DiffusionExplorer`: step through the reverse (denoising) process of a
  :class:`genlearn.models.diffusion.Diffusion` model.

The latent-path widgets of lessons 09 and 10 (animation, traversal) are in
:mod:`genlearn.widgets.latent`.
"""

from __future__ import annotations

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from .. import plot
from .._checks import check_positive_int
from .base import FigureWidget


class DiffusionExplorer(FigureWidget):
    """Step through a diffusion model's reverse process, from noise (t = T) to data (t = 0).

    ``trajectory``: the list returned by ``Diffusion.sample(..., return_trajectory=True)``
    (x_T first); ``steps_between``: the model steps between kept frames (``keep_every``).
    ``reference``: data points drawn behind the samples; with it, every frame's mean distance
    from a sample to its nearest data point is measured (``self.distance``, one per frame).

    Beside the frame the slider picks, six thumbnails at evenly spaced steps show the whole
    reverse process at once, so the static image of an executed notebook shows it too.
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
        self.distance = None
        if reference is not None:  # (F,) mean distance from a sample to the nearest data point
            ref = reference.float()
            self.distance = [float(torch.cdist(x.float(), ref).min(1).values.mean()) for x in self.trajectory]
        n = len(trajectory) - 1
        self.slider = W.IntSlider(value=n, min=0, max=n, description="denoise")
        super().__init__([self.slider], title=title)

    def t_of(self, index: int) -> int:
        """The model step t of a kept frame (frame 0 is x_T, the last is x_0)."""
        return (len(self.trajectory) - 1 - index) * self.steps_between

    def draw(self):
        i = int(self.slider.value)
        x = self.trajectory[i]
        fig = Figure(figsize=(8.4, 3.9), layout="constrained")
        grid = fig.add_gridspec(2, 4, width_ratios=[2, 1, 1, 1])
        big = fig.add_subplot(grid[:, 0])
        title = f"{i * self.steps_between} denoising steps (t = {self.t_of(i)})"
        if self.distance is not None:
            title += f"\nmean distance to data {self.distance[i]:.2f}"
        plot.scatter2d(x, reference=self.reference, lim=self.lim, ax=big, title=title)
        shown = sorted({round(k * (len(self.trajectory) - 1) / 5) for k in range(6)})
        for k, j in enumerate(shown):
            ax = fig.add_subplot(grid[k // 3, 1 + k % 3])
            plot.scatter2d(self.trajectory[j], lim=self.lim, ax=ax, legend=False)
            label = f"t = {self.t_of(j)}" + ("" if self.distance is None else f": {self.distance[j]:.2f}")
            ax.set_title(label, fontsize=8, color="tab:red" if j == i else "k")
            ax.set_xticks([])
            ax.set_yticks([])
        self.state = {"index": i, "t": self.t_of(i), "spread": float(x.std()), "thumbnails": shown,
                      "distance": None if self.distance is None else self.distance[i]}
        return fig
