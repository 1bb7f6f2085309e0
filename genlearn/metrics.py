r"""How good is a generative model? Likelihood bounds, mode coverage, and sample statistics.

* :func:`negative_elbo` and :func:`iwae_bound`: upper bounds on :math:`-\log p(x)` in nats per
  example on held-out data (lower is better; the IWAE bound is tighter).
* :func:`mode_coverage`: on 2D mixtures with known centres (VEEGAN/PacGAN definitions).
* :func:`frechet_distance`, :func:`precision_recall`: compare sample clouds of features,
  e.g. from :func:`genlearn.features.feature_extractor`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from ._checks import (as_tensor, check_data, check_finite, check_positive, check_positive_int, check_seed,
                      check_size, check_tensor)
from .data.base import as_tensors


# ============================================================================ likelihood


def _eval_data(model, data) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``data`` checked as the model's training data is (not empty, finite, in its range)."""
    x_all, y_all = as_tensors(data)
    x_all = check_data("data", x_all, item_shape=model.config.x_shape,
                       value_range=getattr(model.config, "x_range", None))
    if model.config.n_classes and (y_all is None or len(y_all) != len(x_all)):
        raise ValueError(f"a conditional model needs one label per example: pass (x, y) or a "
                         f"labelled dataset, got {'no' if y_all is None else len(y_all)} labels for {len(x_all)} examples")
    return x_all, y_all


def _eval_batches(model, x_all, y_all, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """``(x, y)`` batches on the model's device (``y`` only for a conditional model), with the
    model in eval mode until the last batch is done."""
    batch_size = check_positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x_all), batch_size):
            y = None if not model.config.n_classes else y_all[i:i + batch_size].to(model.device)
            yield x_all[i:i + batch_size].to(model.device), y
    finally:
        model.train(was_training)


def _finite_bound(total: float, n: int) -> float:
    """A bound in nats per example, never a number computed from NaN."""
    if not math.isfinite(total):
        raise ValueError(f"the model gives a non-finite bound ({total}) on finite data: its weights "
                         f"hold NaN or infinity (did training diverge?)")
    return total / n


@torch.no_grad()
def negative_elbo(model, data, *, batch_size: int = 512, seed: int = 0) -> float:
    """Mean of -ELBO(x) over ``data``, in nats per example (one z sample per x, seeded)."""
    x_all, y_all = _eval_data(model, data)
    gen = torch.Generator(device=model.device).manual_seed(check_seed("seed", seed))
    total = 0.0
    for x, y in _eval_batches(model, x_all, y_all, batch_size):
        total += float(-model.elbo(x, y, generator=gen).elbo.sum())
    return _finite_bound(total, len(x_all))


@torch.no_grad()
def iwae_bound(model, data, *, k: int = 64, batch_size: int = 64, seed: int = 0) -> float:
    r"""Importance-weighted bound (Burda et al., 2016), nats per example:

    .. math:: -\log p(x) \le -\log \frac1k \sum_{i=1}^k \frac{p(x|z_i)\,p(z)}{q(z_i|x)},
              \quad z_i \sim q(z|x)

    ``k = 1`` is the negative ELBO; the bound tightens as ``k`` grows.
    """
    k = check_size("k", k)
    x_all, y_all = _eval_data(model, data)
    device = model.device
    gen = torch.Generator(device=device).manual_seed(check_seed("seed", seed))
    total = 0.0
    for x, y in _eval_batches(model, x_all, y_all, batch_size):
        B = len(x)
        mu, logvar = model.encode(x, y)                                   # (B, Z)
        std = (0.5 * logvar).exp()
        eps = torch.randn((k,) + mu.shape, generator=gen, device=device)  # (k, B, Z)
        z = mu + std * eps
        log_q = (-0.5 * eps.square() - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prior = (-0.5 * z.square() - 0.5 * math.log(2 * math.pi)).sum(-1)  # (k, B)
        xk = x.expand(k, *x.shape).reshape(k * B, *x.shape[1:])
        yk = None if y is None else y.repeat(k)
        log_lik = model.log_likelihood(model.decode(z.reshape(k * B, -1), yk), xk).view(k, B)
        log_w = log_lik + log_prior - log_q
        total += float(-(torch.logsumexp(log_w, 0) - math.log(k)).sum())
    return _finite_bound(total, len(x_all))


# ============================================================================ 2D mixtures


def mode_coverage(samples, centers, std: float) -> dict:
    """Mode statistics of 2D samples against a mixture with known centres and std.

    As in VEEGAN and PacGAN: a sample is *high quality* if it lies within 3 std of its
    nearest centre; a mode is *covered* if at least one high-quality sample is nearest to
    it. ``kl_to_uniform`` is KL(mode histogram of the high-quality samples || uniform), in
    nats (0 when every mode gets the same share; log K when all fall on one mode).
    """
    samples = check_tensor("samples", as_tensor("samples", samples), ndim=2, shape_tail=(2,))
    centers = check_tensor("centers", as_tensor("centers", centers), ndim=2, shape_tail=(2,))
    check_positive("std", std)
    if not len(centers):
        raise ValueError("centers is empty: expected at least one mode centre")
    samples, centers = samples.double().cpu(), centers.double().cpu()
    dist = torch.cdist(samples, centers)                   # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centers)).double()
    k = len(centers)
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        kl = float((p[nz] * (p[nz] * k).log()).sum())
    else:
        kl = math.log(k)
    return {
        "modes_covered": int((counts > 0).sum()),
        "modes_total": k,
        "high_quality_fraction": float(good.double().mean()) if len(samples) else 0.0,
        "kl_to_uniform": kl,
        "counts": counts.long().tolist(),
    }


# ============================================================================ feature statistics


def _as_2d_array(name, feats, min_rows: int = 2, why: str = "to estimate a covariance") -> np.ndarray:
    """An (N, F) float64 array of finite features with at least ``min_rows`` rows."""
    try:
        a = (feats.detach().cpu().double().numpy() if isinstance(feats, torch.Tensor)
             else np.asarray(feats, dtype=float))
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be an (N, F) array or tensor of numbers, got {type(feats).__name__}") from None
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a 2D (N, F) array of features, got shape {a.shape}")
    if len(a) < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows {why}, got {len(a)}")
    check_finite(name, torch.from_numpy(a))
    return a


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (via eigh)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_gaussians(mu1, cov1, mu2, cov2) -> float:
    r"""Squared Frechet (Wasserstein-2) distance between two Gaussians:

    .. math:: \|\mu_1 - \mu_2\|^2 + \mathrm{tr}\left(\Sigma_1 + \Sigma_2
              - 2 (\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2})^{1/2}\right)

    Written with the symmetric form of the cross term, so the square root is of a PSD
    matrix and stays real (``tr sqrtm(S1 S2)`` equals it in exact arithmetic).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, float)), np.atleast_2d(np.asarray(cov2, float))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes do not match: mu {mu1.shape} {mu2.shape}, cov {cov1.shape} {cov2.shape}")
    for name, a in (("mu1", mu1), ("cov1", cov1), ("mu2", mu2), ("cov2", cov2)):
        check_finite(name, torch.from_numpy(a))
    try:
        s1 = sqrtm_psd(cov1)
        cross = sqrtm_psd(s1 @ cov2 @ s1)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"the covariances have no matrix square root ({err}): features too large "
                         f"or degenerate; rescale them") from None
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(cross))
    if not math.isfinite(value):
        raise ValueError(f"the Frechet distance overflowed ({value}): features this large "
                         f"(squared sizes beyond 1e308) cannot be compared; rescale them")
    return max(value, 0.0)


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two (N, F) feature clouds (FID-style)."""
    a, b = _as_2d_array("feats_a", feats_a), _as_2d_array("feats_b", feats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance_gaussians(a.mean(0), np.cov(a, rowvar=False),
                                      b.mean(0), np.cov(b, rowvar=False))


def precision_recall(real_feats, fake_feats, k: int = 3) -> dict:
    """k-NN precision and recall (Kynkaanniemi et al., 2019).

    Each cloud's manifold is the union of balls around its points, with radius the distance
    to the point's k-th nearest neighbour. *Precision*: the fraction of generated samples
    inside the real manifold (fidelity). *Recall*: the fraction of real samples inside the
    generated manifold (coverage).
    """
    k = check_positive_int("k", k)
    why = f"for k={k} nearest neighbours"
    real = torch.as_tensor(_as_2d_array("real_feats", real_feats, k + 1, why))
    fake = torch.as_tensor(_as_2d_array("fake_feats", fake_feats, k + 1, why))
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")

    def radii(x):  # distance to the k-th neighbour, not counting the point itself
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values

    r_real, r_fake = radii(real), radii(fake)
    d = torch.cdist(fake, real)                                       # (N_fake, N_real)
    precision = (d <= r_real[None, :]).any(dim=1).double().mean()
    recall = (d.T <= r_fake[None, :]).any(dim=1).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def nearest_neighbour_distances(queries, reference, *, exclude_self: bool = False) -> torch.Tensor:
    """Euclidean distance from each query row to its nearest reference row: (N,).

    Used to look for memorization: generated samples much closer to training images
    than held-out images are is a warning sign. Inputs are flattened to (N, -1).
    """
    q, r = (check_data(name, as_tensor(name, v)) for name, v in (("queries", queries), ("reference", reference)))
    if q.dim() < 2 or r.dim() < 2:
        raise ValueError(f"queries and reference must be (N, ...) batches, got shapes {tuple(q.shape)} and {tuple(r.shape)}")
    q, r = q.flatten(1).double(), r.flatten(1).double()
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} features but the reference has {r.shape[1]}")
    d = torch.cdist(q, r)
    if exclude_self:
        d = d.masked_fill(d == 0, math.inf)
    return d.min(dim=1).values


# ============================================================================ representations


def linear_probe(train_feats, train_labels, test_feats, test_labels, *, per_class: int = 10,
                 repeats: int = 5, seed: int = 0) -> dict:
    """How much a representation helps with few labels: logistic regression trained on
    ``per_class`` labelled examples of each class (drawn from the training features), scored
    on all test features; ``repeats`` draws of the labelled set, seeded.

    Returns ``accuracy`` (mean over draws), ``std`` and ``n_labels`` (labelled examples per
    draw). Features are standardized with the statistics of all training features: the
    unlabelled data is free, only the labels are scarce.
    """
    from sklearn.linear_model import LogisticRegression

    check_positive_int("per_class", per_class)
    check_positive_int("repeats", repeats)
    a, b = _as_2d_array("train_feats", train_feats), _as_2d_array("test_feats", test_feats)
    ya, yb = np.asarray(train_labels).ravel(), np.asarray(test_labels).ravel()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if len(ya) != len(a) or len(yb) != len(b):
        raise ValueError(f"need one label per example: {len(a)} train features with {len(ya)} labels, "
                         f"{len(b)} test features with {len(yb)} labels")
    classes, counts = np.unique(ya, return_counts=True)
    if counts.min() < per_class:
        raise ValueError(f"per_class={per_class} but class {classes[counts.argmin()]} has "
                         f"{counts.min()} training examples")
    mean, std = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mean) / std, (b - mean) / std
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(repeats):
        pick = np.concatenate([rng.choice(np.flatnonzero(ya == c), per_class, replace=False)
                               for c in classes])
        clf = LogisticRegression(max_iter=2000).fit(a[pick], ya[pick])
        accuracies.append(float((clf.predict(b) == yb).mean()))
    return {"accuracy": float(np.mean(accuracies)), "std": float(np.std(accuracies)),
            "n_labels": int(per_class * len(classes))}


def sample_diversity(samples) -> dict:
    """How varied a batch of samples (N, ...) is, the symptom of mode collapse on images:
    ``distinct`` (how many samples differ from every other one), ``mean_distance`` (the
    mean L1 distance between two different samples; for binary images, the number of
    pixels in which they differ) and ``n``."""
    x = torch.as_tensor(np.asarray(samples) if not isinstance(samples, torch.Tensor) else samples)
    x = x.detach().flatten(1).double().cpu()
    if len(x) < 2:
        raise ValueError(f"need at least 2 samples to measure diversity, got {len(x)}")
    n = len(x)
    return {"distinct": int(len(torch.unique(x, dim=0))),
            "mean_distance": float(torch.cdist(x, x, p=1).sum() / (n * (n - 1))), "n": n}


def pixel_entropy(images) -> float:
    r"""How blurred images in [0, 1] are: the mean binary entropy of their pixel values, in nats,
    :math:`-\frac1{ND}\sum p \log p + (1-p)\log(1-p)`. 0 for pure black and white, :math:`\log 2
    \approx 0.69` for all grey. Compare a model's samples with its own training data's value:
    grey data has a blur of its own."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    p = x.detach().double().cpu().clamp(1e-6, 1 - 1e-6)
    if p.numel() == 0:
        raise ValueError("no pixels to measure")
    return float(-(p * p.log() + (1 - p) * (1 - p).log()).mean())
