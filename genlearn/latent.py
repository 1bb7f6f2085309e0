r"""Latent-space helpers, one home for each: encode, decode, interpolate, traverse, KL per dimension.

They work with any genlearn model that has a latent space: a
:class:`~genlearn.models.vae.VAE` or :class:`~genlearn.models.autoencoder.Autoencoder`
(``encode``/``decode``/``mean``), a :class:`~genlearn.models.gan.GAN` (decoding only: ``z``
goes through the generator), or a plain function ``z -> images``. The widgets of
:mod:`genlearn.widgets` and the lessons use these, never a copy.

* :func:`encode`: the encoder's mean :math:`\mu(x)` (VAE) or the code :math:`f(x)` (autoencoder);
* :func:`decode`: images :math:`\mathbb E[x|z]` (VAE), :math:`g(z)` (autoencoder) or :math:`G(z)` (GAN);
* :func:`interpolate`: a path of codes from :math:`z_a` to :math:`z_b`, straight or spherical;
* :func:`traverse`: decode a code with one coordinate swept over values;
* :func:`kl_per_dimension`: :math:`\mathbb E_x \mathrm{KL}(q(z_j|x)\,\|\,\mathcal N(0, 1))` per dimension;
* :func:`factor_correlations`: how each latent mean follows each known factor of the data.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_at_least
from .models.vae import kl_normal_std


def _device(model) -> torch.device | None:
    return getattr(model, "device", None)


def _labels(y, n: int, device) -> torch.Tensor | None:
    """One label for all ``n`` rows (an int), or the labels as given (a tensor of ``n``)."""
    if y is None:
        return None
    y = torch.as_tensor(y, device=device)
    return y.expand(n).long() if y.dim() == 0 else y.to(device)


@torch.no_grad()
def encode(model, x: torch.Tensor, y=None) -> torch.Tensor:
    """The code of each image: the encoder's mean ``mu`` (B, Z) for a VAE, ``z = f(x)`` for an
    autoencoder. ``y``: labels of a conditional model (one int for all, or (B,))."""
    x = x.to(model.device)
    out = model.encode(x) if y is None else model.encode(x, _labels(y, len(x), model.device))
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def decode(model, z: torch.Tensor, y=None) -> torch.Tensor:
    """Images for codes ``z`` (B, Z), on the CPU: decoder means for a VAE or autoencoder,
    ``G(z)`` for a GAN (its EMA generator where it has one), ``model(z)`` for a function."""
    device = _device(model)
    if device is not None:
        z = z.to(device)
    yy = _labels(y, len(z), device)
    if hasattr(model, "decode") and hasattr(model, "mean"):
        out = model.decode(z) if yy is None else model.decode(z, yy)
        return model.mean(out).cpu()
    if hasattr(model, "sample") and hasattr(model, "noise"):
        return model.sample(len(z), yy, z=z).cpu()
    if callable(model):
        return torch.as_tensor(model(z)).detach().cpu()
    raise TypeError(f"expected a VAE, an autoencoder, a GAN or a function z -> images, "
                    f"got {type(model).__name__}")


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, n: int = 8, *, spherical: bool = False) -> torch.Tensor:
    r"""``n`` codes from ``z_a`` to ``z_b`` (both (Z,)), ends included: (n, Z).

    Straight: :math:`z_t = (1 - t) z_a + t z_b`. Spherical (slerp):
    :math:`z_t = \frac{\sin((1 - t)\omega)}{\sin\omega} z_a + \frac{\sin(t\omega)}{\sin\omega} z_b`
    with :math:`\omega` the angle between them. Gaussian codes in many dimensions lie near a
    sphere of radius :math:`\sqrt Z`; a straight line between two of them passes closer to
    the origin, where the decoder saw few codes, and its midpoint decodes to a washed-out image.
    """
    if z_a.shape != z_b.shape or z_a.dim() != 1:
        raise ValueError(f"z_a and z_b must be two (Z,) vectors, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    n = check_at_least("n", n, 2, why="both ends")
    t = torch.linspace(0, 1, n, device=z_a.device)[:, None]  # (n, 1)
    if not spherical:
        return (1 - t) * z_a + t * z_b
    omega = torch.arccos(torch.clamp((z_a / z_a.norm()) @ (z_b / z_b.norm()), -1.0, 1.0))
    if float(omega) < 1e-6:  # (anti)parallel codes: the arc is the line
        return (1 - t) * z_a + t * z_b
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * z_a + (torch.sin(t * omega) / so) * z_b


@torch.no_grad()
def traverse(model, z0: torch.Tensor, dims, values, y=None) -> torch.Tensor:
    """Decode ``z0`` (Z,) with coordinate ``d`` set to each of ``values``, for each ``d`` in
    ``dims``: images (len(dims), len(values), C, H, W) on the CPU."""
    values = torch.as_tensor(values, dtype=torch.float32)
    dims = [int(d) for d in dims]
    latent_dim = z0.shape[-1]
    if not dims or any(not 0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims must be latent indices in 0..{latent_dim - 1}, got {dims}")
    z = z0.detach().cpu().float().reshape(1, 1, -1).repeat(len(dims), len(values), 1)
    for row, d in enumerate(dims):
        z[row, :, d] = values
    images = decode(model, z.reshape(-1, latent_dim), y)
    return images.reshape(len(dims), len(values), *images.shape[1:])


@torch.no_grad()
def kl_per_dimension(model, x: torch.Tensor, y=None) -> np.ndarray:
    r"""Average :math:`\mathrm{KL}(q(z_j|x)\,\|\,\mathcal N(0, 1))` per latent dimension j, in
    nats: (Z,). Dimensions near 0 are unused ("collapsed"): the encoder ignores x there.
    The terms of :func:`genlearn.models.vae.kl_normal_std`, not summed."""
    x = x.to(model.device)
    mu, logvar = model.encode(x, _labels(y, len(x), model.device))
    return kl_normal_std(mu, logvar, per_dimension=True).mean(0).cpu().numpy()


@torch.no_grad()
def factor_correlations(model, x: torch.Tensor, factors: torch.Tensor) -> np.ndarray:
    """|Pearson correlation| between each latent mean mu_j (rows) and each known factor (columns).

    A disentangled model has one large entry per row and per column. (Correlation sees only
    monotone relations: a periodic factor such as rotation can be encoded yet score low.)
    """
    if len(x) != len(factors):
        raise ValueError(f"{len(x)} images but {len(factors)} factor rows")
    z = encode(model, x).cpu().double()
    f = factors.double()
    z = (z - z.mean(0)) / (z.std(0) + 1e-8)
    f = (f - f.mean(0)) / (f.std(0) + 1e-8)
    return ((z.T @ f) / (len(x) - 1)).abs().numpy()
