"""genlearn: small, readable reference VAEs and GANs for a Jupyter course."""

__version__ = "0.1.0"

__all__ = ["__version__", "choose_device", "get_device"]


def __getattr__(name):
    # Imported on first use, not with the package: nbgrader_config.py imports genlearn.grading,
    # and JupyterLab's server reads that file, so an eager `import torch` here would put torch
    # (about 190 MB) into the server process of every Binder session and hub user.
    if name in ("choose_device", "get_device"):
        from . import device

        return getattr(device, name)
    raise AttributeError(f"module 'genlearn' has no attribute {name!r}")
