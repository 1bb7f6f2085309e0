"""Widgets for evaluating generative models (lesson 08) and auditing them (lesson 10).

* :class:`ModelComparison`: pick a model (or a set of samples) from a dropdown and see its
  samples above its metrics: Frechet distance, precision, recall, nearest-neighbour
  distances to the training set, and mode coverage on 2D mixtures.
* :class:`MembershipThreshold`: move the threshold of a membership-inference attack and
  watch who gets accused: score histograms of members and non-members, TPR and FPR.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import plot
from .._checks import check_at_least, check_choice
from ..ethics import membership_attack
from ..features import FEATURE_SPACES, extract
from ..metrics import frechet_distance, mode_coverage, nearest_neighbour_distances, precision_recall
from .base import FigureWidget

METRIC_HELP = {
    "frechet_distance": "Frechet distance (lower is better)",
    "precision": "precision: samples inside the data manifold",
    "recall": "recall: data covered by the samples",
    "nn_train_over_test": "NN dist. train/test (~1: no copying)",
    "modes_covered": "modes covered",
    "high_quality_fraction": "samples within 3 std of a mode",
}


def _samples_of(candidate, n: int, seed: int) -> torch.Tensor:
    if isinstance(candidate, torch.Tensor):
        return candidate.detach().cpu()[:n]
    if hasattr(candidate, "sample"):
        gen = torch.Generator(device=candidate.device).manual_seed(seed)
        return candidate.sample(n, generator=gen).detach().cpu()
    if callable(candidate):
        return torch.as_tensor(candidate(n)).detach().cpu()
    raise TypeError(f"a candidate must be a tensor of samples, a model with .sample(n) or a "
                    f"function n -> samples, got {type(candidate).__name__}")


class ModelComparison(FigureWidget):
    """Pick a candidate, see its samples and its metrics side by side.

    ``candidates``: name -> tensor of samples, a model with ``sample(n, generator=)`` (VAE,
    GAN, Diffusion), or a function ``n -> samples``. ``real``: held-out data (images
    (N, 1, H, W) or 2D points (N, 2)); ``train``: the training data, for the
    nearest-neighbour memorization check. ``feature_space``: a space of
    :data:`genlearn.features.FEATURE_SPACES` (``"digits"``, ``"sprites"``) for images, ``None``
    for 2D points (raw coordinates).
    ``centers``/``std``: the mixture's modes, for mode coverage. ``extra``: name ->
    dict of further numbers to list (e.g. a test -ELBO). Metrics are computed once per
    candidate and cached.
    """

    def __init__(self, candidates: dict, real: torch.Tensor, *, train: torch.Tensor | None = None,
                 feature_space: str | None = "digits", centers=None, std: float | None = None,
                 n: int = 500, extra: dict | None = None, seed: int = 0, title: str | None = None):
        if not isinstance(candidates, dict) or not candidates:
            raise ValueError("candidates must be a non-empty dict: name -> samples or model")
        if not isinstance(real, torch.Tensor) or real.dim() < 2:
            raise TypeError("real must be a tensor of held-out data (N, ...)")
        check_choice("feature_space", feature_space, (None, *FEATURE_SPACES))
        if feature_space is None and (real.dim() != 2 or real.shape[1] != 2):
            raise ValueError(f"without a feature space, real must be 2D points (N, 2), got {tuple(real.shape)}")
        if (centers is None) != (std is None):
            raise ValueError("pass both centers and std for mode coverage, or neither")
        n = check_at_least("n", n, 10, "samples per candidate")
        unknown = set(extra or {}) - set(candidates)
        if unknown:
            raise ValueError(f"extra has names that are not candidates: {sorted(unknown)}")
        self.candidates, self.real, self.train = dict(candidates), real.detach().cpu(), train
        self.feature_space, self.centers, self.std = feature_space, centers, std
        self.n, self.seed, self.extra = n, seed, dict(extra or {})
        self._cache: dict[str, tuple[torch.Tensor, dict]] = {}
        self._real_feats = self._features(self.real[:max(n, 500)])
        self.choice = W.Dropdown(options=list(candidates), description="model")
        super().__init__([self.choice], title=title)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() if self.feature_space is None else extract(x, self.feature_space)

    def evaluate(self, name: str) -> tuple[torch.Tensor, dict]:
        """Samples and metrics of one candidate (cached)."""
        if name not in self._cache:
            s = _samples_of(self.candidates[name], self.n, self.seed)
            if tuple(s.shape[1:]) != tuple(self.real.shape[1:]):
                raise ValueError(f"candidate {name!r} gives samples of shape {tuple(s.shape[1:])}, "
                                 f"but the data are {tuple(self.real.shape[1:])}")
            feats = self._features(s)
            m = {"frechet_distance": frechet_distance(self._real_feats, feats),
                 **precision_recall(self._real_feats, feats, k=3)}
            if self.train is not None:
                d_tr = nearest_neighbour_distances(s, self.train.detach().cpu())
                d_te = nearest_neighbour_distances(s, self.real)
                m["nn_train_over_test"] = float((d_tr / d_te.clamp_min(1e-12)).median())
            if self.centers is not None:
                mc = mode_coverage(s, self.centers, self.std)
                m["modes_covered"] = mc["modes_covered"]
                m["high_quality_fraction"] = mc["high_quality_fraction"]
            m.update(self.extra.get(name, {}))
            self._cache[name] = (s, m)
        return self._cache[name]

    def draw(self):
        name = self.choice.value
        samples, metrics = self.evaluate(name)
        keys = [k for k in metrics if isinstance(metrics[k], (int, float))]
        # the numbers go under the samples, in the figure (so a saved copy keeps them): a text
        # panel beside them made the figure twice as wide, and a notebook scaled it down
        lines = [f"{METRIC_HELP.get(k, k)}: {metrics[k]:.3g}" for k in keys]
        ncol = 1 if self.feature_space is None else 2     # a square scatter: one narrow column
        per_col = -(-len(lines) // ncol)
        text_h = 0.3 + 0.2 * per_col
        if self.feature_space is None:
            fig = Figure(figsize=(5.2, 4.6 + text_h), layout="constrained")
            ax_s, ax_m = fig.subplots(2, 1, height_ratios=[4.6, text_h])
            plot.scatter2d(samples, reference=self.real, centers=self.centers, ax=ax_s, title=name)
        else:
            fig = Figure(figsize=(9.0, 3.4 + text_h), layout="constrained")   # 12 x 4 images
            ax_s, ax_m = fig.subplots(2, 1, height_ratios=[3.4, text_h])
            plot.image_grid(samples[:48], 12, ax=ax_s, title=f"{name}: 48 of its {len(samples)} samples")
        ax_m.set_axis_off()
        for col in range(ncol):
            chunk = lines[col * per_col:(col + 1) * per_col]
            ax_m.text(col / ncol, 1.0, "\n".join(chunk), va="top", ha="left", fontsize=9,
                      transform=ax_m.transAxes)
        self.state = {"name": name, "metrics": dict(metrics), "n_samples": len(samples),
                      "sample_mean": float(samples.float().mean())}
        return fig


class MembershipThreshold(FigureWidget):
    """A membership-inference attack with a movable threshold: "member if score <= t".

    ``member_scores``/``nonmember_scores``: per-example scores (e.g. -ELBO from
    :func:`genlearn.ethics.vae_membership_scores`; lower = "more likely a member");
    ``score_name`` says which score it is on the x axis (e.g. "-log p, nats" for an exact likelihood).
    """

    def __init__(self, member_scores, nonmember_scores, *, bins: int = 30, title: str | None = None,
                 score_name: str = "-ELBO, nats"):
        self.m = np.asarray(member_scores, float).ravel()
        self.o = np.asarray(nonmember_scores, float).ravel()
        if len(self.m) < 2 or len(self.o) < 2:
            raise ValueError(f"need at least 2 scores of each kind, got {len(self.m)} and {len(self.o)}")
        if not (np.isfinite(self.m).all() and np.isfinite(self.o).all()):
            raise ValueError("scores must be finite")
        bins = check_at_least("bins", bins, 2)
        self.bins, self.score_name = bins, str(score_name)
        self.summary = membership_attack(self.m, self.o)
        lo, hi = float(min(self.m.min(), self.o.min())), float(max(self.m.max(), self.o.max()))
        self.slider = W.FloatSlider(value=self.summary["threshold"], min=lo, max=hi,
                                    step=(hi - lo) / 200 or 1.0, description="threshold",
                                    continuous_update=False, readout_format=".1f")
        super().__init__([self.slider], title=title)

    def draw(self):
        t = float(self.slider.value)
        tpr, fpr = float((self.m <= t).mean()), float((self.o <= t).mean())
        fig = Figure(figsize=(5.4, 4.8), layout="constrained")
        ax = fig.subplots()
        edges = np.histogram_bin_edges(np.concatenate([self.m, self.o]), self.bins)
        # outlines, not translucent fills: overlapping fills mix into a colour no legend entry has
        ax.hist(self.m, edges, histtype="step", lw=2.0, label="members (training set)", color=plot.PALETTE[4])
        ax.hist(self.o, edges, histtype="step", lw=2.0, ls=(0, (4, 1.5)), label="non-members (unseen)",
                color=plot.PALETTE[3])
        ax.axvline(t, color="k", ls=":", lw=1.2, label="threshold")
        ax.set_xlabel(f"score ({self.score_name})\nlower = the model finds it more likely")
        ax.set_ylabel("candidates per bin")
        ax.set_title(f"accused: {tpr:.0%} of members, {fpr:.0%} of non-members\n"
                     f"(AUC {self.summary['auc']:.2f})", fontsize=10)
        plot.figure_legend(fig, ax, ncols=2)   # below: inside, it would cover a histogram
        self.state = {"threshold": t, "tpr": tpr, "fpr": fpr, "accuracy": 0.5 * (tpr + 1 - fpr)}
        return fig
