"""Input validation shared by the public functions: messages say what was expected and what came.

Every check returns the value it accepted (converted where that is safe), so a caller can
write ``self.n = check_positive_int("n", n)``. :func:`argparse_type` turns a check into an
``argparse`` type, so the command line says the same things as the library.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import operator
from collections.abc import Callable

import numpy as np
import torch


def _as_int(name: str, value) -> int:
    """``value`` as a Python ``int``: numpy and torch integers, and floats with an integral value
    (``3.0``), are converted; a bool is refused, as is anything else that is not a whole number."""
    if isinstance(value, bool) or not isinstance(value, int):
        as_int = None
        if not isinstance(value, (bool, np.bool_)) and not (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
            try:
                as_int = operator.index(value)  # numpy and torch integers
            except TypeError:
                if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
                    as_int = int(value)
        if as_int is None:
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = as_int
    return value


def check_positive_int(name: str, value, allow_zero: bool = False) -> int:
    """An integer >= 1 (>= 0 with ``allow_zero``), returned as a Python ``int``: numpy and torch
    integers, and floats with an integral value (``3.0``), are converted; a bool is refused
    (``epochs=True`` is a mistake, not one epoch), as is anything else that is not a whole number."""
    value = _as_int(name, value)
    low = 0 if allow_zero else 1
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def check_at_least(name: str, value, low: int, unit: str = "", why: str = "") -> int:
    """An integer >= ``low`` (converted as by :func:`check_positive_int`): ``size must be >= 8
    tiles (two rooms side by side), got 6`` with ``unit="tiles"`` and ``why``."""
    value = _as_int(name, value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}{' ' + unit if unit else ''}{f' ({why})' if why else ''}, "
                         f"got {value}")
    return value


def check_count(name: str, value, high: int, what: str = "") -> int:
    """An integer from 1 to ``high`` (a number of examples, say); ``what`` says where the bound
    comes from, in the message: ``n must be between 1 and 1,437 (the digits' train split)``."""
    value = check_positive_int(name, value)
    if value > high:
        raise ValueError(f"{name} must be between 1 and {high:,}{f' ({what})' if what else ''}, got {value:,}")
    return value


SEED_MAX = 2**32 - 1
SIZE_MAX = 2**20


def check_size(name: str, value, allow_zero: bool = False) -> int:
    """A model size (a width, a latent dimension, a number of classes or steps): an integer
    >= 1 (>= 0 with ``allow_zero``) and at most 2**20, beyond which it is surely a typo."""
    value = check_positive_int(name, value, allow_zero=allow_zero)
    if value > SIZE_MAX:
        raise ValueError(f"{name} must be at most {SIZE_MAX:,}, got {value:,}")
    return value



def check_seed(name: str, value) -> int:
    """A random seed: an integer in 0..2**32 - 1 (every generator of the library takes it)."""
    value = check_positive_int(name, value, allow_zero=True)
    if value > SEED_MAX:
        raise ValueError(f"{name} must be between 0 and {SEED_MAX}, got {value}")
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


def _is_real(value) -> bool:
    """A finite real number: Python's and numpy's ints and floats, never a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def check_number(name: str, value, *, above: float | None = None, why: str = "") -> float:
    """A finite real number (not a bool), and ``> above`` if given; ``why`` says what it is or
    where the bound comes from: ``nu must be a finite number > 2 (finite variance), got 2``."""
    if not _is_real(value) or (above is not None and not value > above):
        raise ValueError(f"{name} must be a finite number{f' > {above:g}' if above is not None else ''}"
                         f"{f' ({why})' if why else ''}, got {value!r}")
    return float(value)


_ENDS = {"[": operator.le, "(": operator.lt, "]": operator.le, ")": operator.lt}


def check_fraction(name: str, value, interval: str = "[]", what: str = "a number") -> float:
    """A finite real number from 0 to 1 (a probability, a share); ``interval`` says which ends
    are allowed: ``"[]"`` both, ``"()"`` neither, ``"(]"``, ``"[)"``. ``what`` names it in the
    message: ``level must be a probability in (0, 1), got 1.5``."""
    if len(interval) != 2 or interval[0] not in "[(" or interval[1] not in ")]":
        raise ValueError(f"interval must be one of '[]', '()', '(]', '[)', got {interval!r}")
    if not _is_real(value) or not (_ENDS[interval[0]](0, value) and _ENDS[interval[1]](value, 1)):
        raise ValueError(f"{name} must be {what} in {interval[0]}0, 1{interval[1]}, got {value!r}")
    return float(value)


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
    check_finite(name, x)
    if value_range is not None and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < value_range[0] - 1e-6 or hi > value_range[1] + 1e-6:
            raise ValueError(
                f"{name} values must lie in [{value_range[0]}, {value_range[1]}], "
                f"got min {lo:.3g}, max {hi:.3g}"
            )
    return x


def as_tensor(name: str, value) -> torch.Tensor:
    """``torch.as_tensor(value)`` for anything that holds numbers (a tensor, an array, nested
    lists); anything else is a TypeError that names the argument."""
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(value).__name__}") from None


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Every value of a floating tensor finite (no NaN, no infinity)."""
    if x.numel() and torch.is_floating_point(x) and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must hold finite numbers, got {bad} NaN or infinite value(s) "
                         f"of {x.numel()}: drop or fill them first")
    return x


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """Integer, boolean and other floating tensors as float32, the models' dtype (their
    obvious meaning); float32 unchanged, not copied."""
    return x if x.dtype == torch.float32 else x.float()


def check_data(name: str, x, *, item_shape: tuple[int, ...] | None = None,
               value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """A whole dataset (or a batch handed to an evaluation): a non-empty tensor of examples
    of ``item_shape`` (if given), numbers (integers and float64 become float32), all finite,
    optionally within ``value_range``.

    Checked once before training or evaluation, not per step (a check per step would cost a
    device synchronization every step)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): expected at least one example")
    if item_shape is not None:
        check_batch(name, x, item_shape)
    x = check_finite(name, as_float32(x))
    if value_range is not None:
        lo, hi = float(x.min()), float(x.max())
        if lo < value_range[0] or hi > value_range[1]:
            raise ValueError(
                f"{name} values must lie in [{value_range[0]:g}, {value_range[1]:g}], got min {lo:.4g}, "
                f"max {hi:.4g}" + (" (pixels in [0, 255]? divide by 255)" if hi > 1.5 and value_range[1] == 1 else ""))
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
    if x.dim() == 0 or tuple(x.shape[1:]) != tuple(item_shape):
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, item_shape))}), "
                         f"got {tuple(x.shape)}")
    if x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    return as_float32(x)


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


def check_text(name: str, value) -> str:
    """A non-empty string (a name, a description): ``None`` or ``""`` is something left out."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    if not value.strip():
        raise ValueError(f"{name} is missing: expected a non-empty string, got {value!r}")
    return value


def check_callable(name: str, value) -> Callable:
    """Something to call (a function, a class, a ``functools.partial``)."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__} {value!r}")
    return value


def check_nonnegative(name: str, value) -> float:
    """A finite real number >= 0 (a weight of a loss term, a penalty's strength)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def check_unit_interval(name: str, value, what: str = "") -> float:
    """A number in [0, 1) (a share, a decay, Adam's beta); ``what`` says what it means, in the
    message: ``rejection must be a number in [0, 1) (the share ...), got 1.5``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1){f' ({what})' if what else ''}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """True or False, nothing that merely converts to one (``1``, ``"no"``)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value
