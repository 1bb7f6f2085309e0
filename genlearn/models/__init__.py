"""Reference models, each a plain ``nn.Module`` with a small config, and the registry of
model kinds that checkpoints, recipes and the command line read."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .._checks import check_choice
from .autoencoder import Autoencoder, AutoencoderConfig
from .diffusion import Diffusion, DiffusionConfig
from .flow import Flow, FlowConfig
from .gan import GAN, Discriminator, GANConfig, Generator
from .gan_losses import LOSSES, d_loss, g_loss, gradient_penalty, r1_penalty
from .made import MADE, MADEConfig
from .vae import ELBO, VAE, VAEConfig, kl_normal_std, reparameterize


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: its class and the config dataclass that builds it."""

    name: str
    model: type[nn.Module]
    config: type


MODEL_KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("vae", VAE, VAEConfig),
    ModelKind("gan", GAN, GANConfig),
    ModelKind("autoencoder", Autoencoder, AutoencoderConfig),
    ModelKind("diffusion", Diffusion, DiffusionConfig),
    ModelKind("flow", Flow, FlowConfig),
    ModelKind("made", MADE, MADEConfig),
)}


def model_kind(name: str) -> ModelKind:
    check_choice("model kind", name, tuple(MODEL_KINDS))
    return MODEL_KINDS[name]


def kind_of(model) -> str:
    """The registered kind of a model instance ("vae", "gan", ...)."""
    for kind in MODEL_KINDS.values():
        if type(model) is kind.model:
            return kind.name
    raise TypeError(f"expected a genlearn model ({', '.join(k.model.__name__ for k in MODEL_KINDS.values())}), "
                    f"got {type(model).__name__}")


__all__ = [
    "Autoencoder", "AutoencoderConfig", "Diffusion", "DiffusionConfig", "ELBO", "GAN", "GANConfig",
    "Discriminator", "Flow", "FlowConfig", "Generator", "LOSSES", "MADE", "MADEConfig", "MODEL_KINDS",
    "ModelKind", "VAE", "VAEConfig",
    "d_loss", "g_loss", "gradient_penalty", "kind_of", "kl_normal_std", "model_kind", "r1_penalty",
    "reparameterize",
]
