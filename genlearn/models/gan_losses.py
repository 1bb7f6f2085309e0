r"""GAN losses, written on the discriminator's raw outputs (logits or critic values).

Notation (lesson 05): ``D(x)`` is the discriminator's probability that x is real,
``D(x) = sigmoid(d(x))`` with logit ``d``; ``r = d(x)`` on real data, ``f = d(G(z))`` on
generated data. We use :math:`\log \mathrm{sigmoid}(t) = -\mathrm{softplus}(-t)` and
:math:`\log(1 - \mathrm{sigmoid}(t)) = -\mathrm{softplus}(t)`, which are stable for any t.

========================  ===============================================  ==========================================
loss                      discriminator minimizes                          generator minimizes
========================  ===============================================  ==========================================
``minimax``               -E log D(x) - E log(1 - D(G(z)))                 E log(1 - D(G(z)))   (saturates)
``nonsaturating``         same as minimax                                  -E log D(G(z))
``wgan-gp``               E d(G(z)) - E d(x) + lambda * GP                 -E d(G(z))
``hinge``                 E max(0, 1 - d(x)) + E max(0, 1 + d(G(z)))       -E d(G(z))
========================  ===============================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("nonsaturating", "minimax", "wgan-gp", "hinge")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (without penalties) from its outputs on real and fake batches."""
    if kind in ("minimax", "nonsaturating"):
        # -log D(x) - log(1 - D(G(z)))
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "wgan-gp":
        # the critic maximizes E d(x) - E d(G(z)), an estimate of the Wasserstein-1 distance
        return fake.mean() - real.mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown GAN loss {kind!r}: expected one of {', '.join(LOSSES)}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from the discriminator's outputs on generated samples."""
    if kind == "minimax":
        # E log(1 - D(G(z))): its gradient vanishes when D confidently rejects the fakes
        return -F.softplus(fake).mean()
    if kind == "nonsaturating":
        # -E log D(G(z)): the same fixed point, strong gradients early on
        return F.softplus(-fake).mean()
    if kind in ("wgan-gp", "hinge"):
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}: expected one of {', '.join(LOSSES)}")


def _grad_norm(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """||grad_x critic(x)||_2 per example: (B,). Keeps the graph (create_graph) for backprop."""
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""WGAN-GP (Gulrajani et al., 2017): :math:`\mathbb E_{\hat x} (\|\nabla_{\hat x} d(\hat x)\|_2 - 1)^2`

    on :math:`\hat x = \epsilon x + (1 - \epsilon)\tilde x` with one
    :math:`\epsilon \sim U(0, 1)` **per sample** (shape (B, 1, ...)). Some public tutorials
    draw one epsilon per element or per batch; that penalizes the wrong points.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_grad_norm(critic, x_hat) - 1.0).square().mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    r"""R1 (Mescheder et al., 2018): :math:`\tfrac12 \mathbb E_{x \sim p_{data}} \|\nabla_x d(x)\|_2^2`.

    Penalizing the discriminator's slope on real data damps the oscillations around the
    equilibrium that make GANs on small mixtures circle or collapse; multiply by gamma.
    """
    return 0.5 * _grad_norm(critic, real).square().mean()
