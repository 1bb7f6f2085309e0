r"""Experiments for lesson 10: detecting generated samples, memorization, membership inference.

* :func:`detector_accuracy`: a *real-vs-fake detector* (a small classifier) trained on real
  and generated samples, scored on held-out ones. 1.0: every fake is caught; 0.5: the
  detector is guessing, so the fakes are indistinguishable to it. This is also the
  *classifier two-sample test* of Lopez-Paz & Oquab (2017). :func:`train_detector` returns
  the trained :class:`Detector` itself, to score it on samples of a generator it never saw.
* :func:`vae_membership_scores` and :func:`membership_attack`: a *membership inference*
  attack (Shokri et al., 2017; for generative models Hayes et al., 2019): an overfitted
  model gives its training examples a better score (here a lower :math:`-\mathrm{ELBO}`)
  than examples it never saw; thresholding the score guesses "member or not".
* :func:`memorization_report`: nearest-neighbour distances from generated samples to the
  training set and to held-out data: copies of training examples sit at distance ~0.
* :func:`embed_watermark` and :func:`watermark_score` (lesson 14): a faint secret pattern
  added to generated images, and the correlation test that finds it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (as_float32, as_tensor, check_batch, check_finite, check_fraction, check_positive_int, check_range,
                      check_seed)
from .device import CPU, get_device
from .metrics import nearest_neighbour_distances
from .models.blocks import mlp
from .train import train_classifier


def _flat(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.dim() < 2:
        raise ValueError(f"{name} must be a batch (N, ...) of samples, got shape {tuple(x.shape)}")
    return x.detach().to(CPU).float().flatten(1)


@dataclass
class Detector:
    """A trained real-vs-fake detector: an MLP on standardized, flattened samples.

    ``logits(x)``: (N,), positive means "real". ``accuracy(real, fake)``: on equally weighted
    real and fake sets, ``accuracy`` = (real kept + fakes caught) / 2 (0.5 = chance), with
    ``real_kept`` and ``fakes_caught`` separately: a detector that calls every sample of a
    new generator "real" scores 50% on it, however well it catches the fakes it knows.
    """

    net: nn.Module
    mean: torch.Tensor   # (D,) the training samples' statistics
    std: torch.Tensor    # (D,)

    @torch.no_grad()
    def logits(self, x) -> torch.Tensor:
        x = _flat("x", x)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"the detector was trained on {self.mean.shape[0]} features per sample, "
                             f"got {x.shape[1]}")
        device = next(self.net.parameters()).device
        return self.net(((x - self.mean) / self.std).to(device)).squeeze(1).to(CPU)

    def accuracy(self, real, fake) -> dict:
        real_kept = float((self.logits(real) > 0).float().mean())
        fakes_caught = float((self.logits(fake) <= 0).float().mean())
        return {"accuracy": (real_kept + fakes_caught) / 2, "real_kept": real_kept,
                "fakes_caught": fakes_caught}


def _fit_detector(r: torch.Tensor, f: torch.Tensor, hidden, steps, lr, seed, gen, device) -> Detector:
    x_train = torch.cat([r, f])
    y_train = torch.cat([torch.ones(len(r)), torch.zeros(len(f))])
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    device = get_device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = mlp([x_train.shape[1], *hidden, 1]).to(device)
    xt, yt = ((x_train - mean) / std).to(device), y_train.to(device)
    train_classifier(net, len(xt),
                     lambda idx: F.binary_cross_entropy_with_logits(net(xt[idx]).squeeze(1), yt[idx]),
                     steps=steps, batch_size=min(256, len(xt)), lr=lr, generator=gen, device=device)
    return Detector(net.eval(), mean, std)


def _real_and_fake(real, fake) -> tuple[torch.Tensor, torch.Tensor]:
    r, f = _flat("real", real), _flat("fake", fake)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real has {r.shape[1]} features per sample but fake has {f.shape[1]}")
    return r, f


def train_detector(real, fake, *, hidden: tuple[int, ...] = (64, 64), steps: int = 400,
                   lr: float = 3e-3, seed: int = 0, device=None) -> Detector:
    r"""Train an MLP to tell ``real`` (label 1) from ``fake`` (label 0) on all of both sets
    (pass equally many of each) by minimizing the binary cross-entropy
    :math:`-\tfrac1N\sum_i [y_i \log \sigma(D(x_i)) + (1 - y_i) \log(1 - \sigma(D(x_i)))]`
    with Adam on minibatches; returns the :class:`Detector`, to be scored on other samples,
    e.g. of a generator it never saw."""
    r, f = _real_and_fake(real, fake)
    check_positive_int("steps", steps)
    if min(len(r), len(f)) < 10:
        raise ValueError(f"need at least 10 samples of each kind, got {len(r)} real and {len(f)} fake")
    return _fit_detector(r, f, hidden, steps, lr, seed, torch.Generator().manual_seed(seed), device)


def detector_accuracy(real, fake, *, hidden: tuple[int, ...] = (64, 64), steps: int = 400,
                      lr: float = 3e-3, test_fraction: float = 0.3, seed: int = 0,
                      device=None) -> dict:
    """Train an MLP to tell ``real`` (label 1) from ``fake`` (label 0); return its held-out
    ``accuracy`` (0.5 = chance), ``n_train`` and ``n_test``.

    Both sets are cut to the same size, so 0.5 is exactly chance; inputs are flattened
    and standardized with the training part's statistics.
    """
    r, f = _real_and_fake(real, fake)
    check_positive_int("steps", steps)
    test_fraction = check_fraction("test_fraction", test_fraction, "()")
    n = min(len(r), len(f))
    if n < 10:
        raise ValueError(f"need at least 10 samples of each kind, got {len(r)} real and {len(f)} fake")
    gen = torch.Generator().manual_seed(seed)
    r, f = r[torch.randperm(len(r), generator=gen)[:n]], f[torch.randperm(len(f), generator=gen)[:n]]
    n_test = max(1, int(round(n * test_fraction)))
    detector = _fit_detector(r[n_test:], f[n_test:], hidden, steps, lr, seed, gen, device)
    return {"accuracy": detector.accuracy(r[:n_test], f[:n_test])["accuracy"],
            "n_train": 2 * (n - n_test), "n_test": 2 * n_test}


@torch.no_grad()
def vae_membership_scores(model, x: torch.Tensor, y: torch.Tensor | None = None, *, n_samples: int = 8,
                          seed: int = 0) -> torch.Tensor:
    """Each example's -ELBO (nats), averaged over ``n_samples`` z draws: (N,) on the CPU.
    Lower means "the model finds this example likely", the attacker's hint of membership.
    ``y``: the labels, for a conditional VAE."""
    check_positive_int("n_samples", n_samples)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    x = x.to(model.device)
    y = None if y is None else y.to(model.device)
    total = torch.zeros(len(x), device=model.device)
    for _ in range(n_samples):
        total += -model.elbo(x, y, generator=gen).elbo
    model.train(was_training)
    return (total / n_samples).to(CPU)


def roc_curve(member_scores, nonmember_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates of the attack "member if score <= threshold", for every
    threshold (ascending); returns ``(fpr, tpr, thresholds)``, starting at (0, 0)."""
    m = np.asarray(member_scores, float).ravel()
    o = np.asarray(nonmember_scores, float).ravel()
    if not len(m) or not len(o):
        raise ValueError("need at least one member and one non-member score")
    thresholds = np.unique(np.concatenate([m, o]))
    tpr = (m[None, :] <= thresholds[:, None]).mean(1)
    fpr = (o[None, :] <= thresholds[:, None]).mean(1)
    return (np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr]),
            np.concatenate([[-np.inf], thresholds]))


def membership_attack(member_scores, nonmember_scores) -> dict:
    """How well "lower score = member" separates members from non-members.

    ``auc``: the probability that a random member scores lower than a random non-member
    (ties count half; 0.5 = no leak, 1.0 = total leak). ``accuracy`` and ``threshold``:
    the best single threshold on these two (equally sized, or weighted to be) sets.
    ``tpr_at_1pct_fpr``: members caught while wrongly accusing at most 1% of non-members.
    """
    m = np.asarray(member_scores, float).ravel()
    o = np.asarray(nonmember_scores, float).ravel()
    if not len(m) or not len(o):
        raise ValueError("need at least one member and one non-member score")
    if not (np.isfinite(m).all() and np.isfinite(o).all()):
        raise ValueError("scores must be finite")
    less = (m[:, None] < o[None, :]).mean()
    ties = (m[:, None] == o[None, :]).mean()
    fpr, tpr, thr = roc_curve(m, o)
    balanced = 0.5 * (tpr + 1 - fpr)
    best = int(balanced.argmax())
    ok = fpr <= 0.01
    return {"auc": float(less + 0.5 * ties), "accuracy": float(balanced[best]),
            "threshold": float(thr[best]), "tpr_at_1pct_fpr": float(tpr[ok].max())}


def memorization_report(samples, train, test, *, copy_ratio: float = 0.5) -> dict:
    """Nearest-neighbour distances of ``samples`` to ``train`` and to ``test`` (same size
    as train or not): medians, and ``copy_fraction``, the share of samples much closer to
    a training example than to any test example (d_train < copy_ratio * d_test).

    A model that generalizes puts its samples about as close to unseen data as to its
    training data (``median_ratio`` ~ 1); a memorizing one has ratios near 0.
    """
    copy_ratio = check_fraction("copy_ratio", copy_ratio, "(]")
    s, tr, te = _flat("samples", samples), _flat("train", train), _flat("test", test)
    d_train = nearest_neighbour_distances(s, tr).float()
    d_test = nearest_neighbour_distances(s, te).float()
    ratio = d_train / d_test.clamp_min(1e-12)
    return {"d_train": d_train, "d_test": d_test,
            "median_d_train": float(d_train.median()), "median_d_test": float(d_test.median()),
            "median_ratio": float(ratio.median()),
            "copy_fraction": float((d_train < copy_ratio * d_test).float().mean())}


# ============================================================================ watermarks


def watermark_pattern(shape, key: int) -> torch.Tensor:
    """The secret pattern of ``key`` for images of ``shape`` (C, H, W): +1 or -1 per pixel,
    drawn by a generator seeded with the key, so whoever holds the key can draw it again."""
    shape = tuple(shape)
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be (C, H, W) of positive integers, got {shape!r}")
    gen = torch.Generator().manual_seed(check_seed("key", key))
    return torch.randint(0, 2, shape, generator=gen).float() * 2 - 1


def _images(name: str, x) -> torch.Tensor:
    x = check_batch(name, as_tensor(name, x))
    return check_finite(name, as_float32(x.detach().to(CPU)))


def embed_watermark(images, key: int, strength: float = 0.03) -> torch.Tensor:
    r"""Images carrying the watermark of ``key``:
    :math:`x_w = \delta + (1 - 2\delta)\,x + \delta\,p`, :math:`p` the key's
    :func:`watermark_pattern` (+1 or -1 per pixel) and :math:`\delta` = ``strength``: a
    spread-spectrum watermark (Cox et al., 1997), a faint pattern spread over every pixel and
    found again by correlation with the key. Images are in [0, 1]; squeezing them into
    :math:`[\delta, 1 - \delta]` first keeps the mark whole where a plain
    :math:`\mathrm{clip}(x + \delta p, 0, 1)` would cut half of it off black or white pixels."""
    x = _images("images", images)
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"images must lie in [0, 1], got values from {float(x.min()):.3g} to {float(x.max()):.3g}")
    strength = check_range("strength", strength, 0, 0.5)
    return strength + (1 - 2 * strength) * x + strength * watermark_pattern(x.shape[1:], key)


def _detail(x: torch.Tensor) -> torch.Tensor:
    """The image minus its 3x3 local mean: the fine detail, where the pattern lives."""
    smooth = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return x - smooth


def watermark_score(images, key: int) -> torch.Tensor:
    r"""The detector's score per image (N,): :math:`z = \langle h, p\rangle / \lVert h\rVert`,
    :math:`h` the image's fine detail (itself minus its 3x3 local mean) and :math:`p` the key's
    pattern. For an image without this key's watermark :math:`p` is independent of
    :math:`h`, so :math:`z` has mean 0 and variance 1 (about standard normal: :math:`z > 4`
    happens about 3 times in 100,000); a watermark of strength :math:`\delta` adds about
    :math:`\delta \cdot \frac89 \cdot n_{pixels} / \lVert h\rVert`."""
    x = _images("images", images)
    h = _detail(x).flatten(1)
    p = watermark_pattern(x.shape[1:], key).flatten()[None]
    return (h * p).sum(1) / h.norm(dim=1).clamp_min(1e-12)
