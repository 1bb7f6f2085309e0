"""Reference models: the VAE and the GAN, each a plain ``nn.Module`` with a small config."""

from .autoencoder import Autoencoder, AutoencoderConfig
from .gan import GAN, Discriminator, GANConfig, Generator
from .gan_losses import LOSSES, d_loss, g_loss, gradient_penalty, r1_penalty
from .vae import ELBO, VAE, VAEConfig, kl_normal_std, reparameterize

__all__ = [
    "Autoencoder", "AutoencoderConfig", "ELBO", "GAN", "GANConfig", "Discriminator", "Generator",
    "LOSSES", "VAE", "VAEConfig",
    "d_loss", "g_loss", "gradient_penalty", "kl_normal_std", "r1_penalty", "reparameterize",
]
