"""Input validation shared by the public functions: messages say what was expected and what came.

Every check returns the value it accepted (converted where that is safe), so a caller can
write ``self.n = check_positive_int("n", n)``. :func:`argparse_type` turns a check into an
``argparse`` type, so the command line says the same things as the library.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable

import torch


def check_positive_int(name: str, value, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(value)
        except (TypeError, ValueError):
            as_int = None
        if as_int is None or as_int != value:
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = as_int
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def check_positive(name: str, value) -> float:
    """A finite real number > 0 (a time budget, a scale, a span)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def check_range(name: str, value, low, high):
    """A number (not a bool) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")
    return value


def check_learning_rate(name: str, value) -> float:
    """A learning rate in (0, 1)."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value)
                                       and 0 < value < 1):
        raise ValueError(f"{name} must be a learning rate in (0, 1), got {value!r}")
    return float(value)


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def check_tensor(name: str, x, *, shape_tail: tuple | None = None, ndim: int | None = None,
                 value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Check a tensor's type, trailing shape and value range; return it as float."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if shape_tail is not None and tuple(x.shape[-len(shape_tail):]) != tuple(shape_tail):
        raise ValueError(
            f"{name} must have shape (..., {', '.join(map(str, shape_tail))}), "
            f"got {tuple(x.shape)}"
        )
    if not torch.is_floating_point(x):
        x = x.float()
    if value_range is not None and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < value_range[0] - 1e-6 or hi > value_range[1] + 1e-6:
            raise ValueError(
                f"{name} values must lie in [{value_range[0]}, {value_range[1]}], "
                f"got min {lo:.3g}, max {hi:.3g}"
            )
    return x


def check_batch(name: str, x, item_shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """A batch tensor: (B, *item_shape), or, without ``item_shape``, images (N, C, H, W).

    The one shape check of the library: models check their inputs against their config's
    ``x_shape``, widgets check that they were given images.
    """
    if item_shape is None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f"{name} must be a tensor of images (N, C, H, W), "
                             f"got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        return x
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape[1:]) != tuple(item_shape):
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, item_shape))}), "
                         f"got {tuple(x.shape)}")
    return x


def resolve_config(config_cls: type, config, overrides: dict):
    """A model's config: ``config_cls(**overrides)``, or ``config`` with ``overrides`` merged
    in (a new, re-validated config); never an override silently ignored."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown {config_cls.__name__} field(s) {unknown}; fields: {', '.join(sorted(fields))}")
    if config is None:
        return config_cls(**overrides)
    if not isinstance(config, config_cls):
        raise TypeError(f"config must be a {config_cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides) if overrides else config


def argparse_type(check: Callable, name: str, parse: Callable[[str], object] = int,
                  expected: str = "an integer") -> Callable[[str], object]:
    """An ``argparse`` ``type=`` from a check: ``parse`` the text, then ``check(name, value)``;
    either failure becomes the parser's one-line error with the check's own message."""
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        try:
            return check(name, value)
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = name  # argparse names the type in some messages
    return convert
