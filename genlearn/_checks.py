"""Input validation shared by the public functions: messages say what was expected and what came."""

from __future__ import annotations

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
