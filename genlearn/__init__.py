"""genlearn: small, readable reference VAEs and GANs for a Jupyter course."""

__version__ = "0.1.0"

from .device import choose_device, get_device  # noqa: E402

__all__ = ["__version__", "choose_device", "get_device"]
