"""Helpers the assignments' tests use, so that a grade rewards the student's own work.

* :func:`own_work`: the exercises ask students to write things genlearn already has
  (``reparameterize``, the KL term, ``d_loss``, ``mode_coverage``, ...). A test runs the
  student's function inside ``with own_work():``, which watches, with a profiler, for any
  call into genlearn's reference implementations of those things; one call fails the test
  with a message that says why. The profiler matches code objects, so it also catches aliases,
  wrappers and methods that reach the same code. Everything else in genlearn stays allowed
  (datasets, models' ``encode``/``decode``, plotting).
* :func:`plain`: an answer is checked only once it is a plain value (``torch.Tensor``,
  ``numpy.ndarray``, ``float``, ``int``, ``bool`` or containers of them, exact types): an
  object whose ``__eq__``, ``__sub__`` or ``__torch_function__`` is made to pass every
  comparison is refused with a message naming its type.

* :func:`checked`: both at once, for one function: ``checked(kl_diag_gaussian)(mu, logvar)``.

Both work the same when a student presses Validate at home and under the autograder.
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager

import numpy as np
import torch

# genlearn's implementations of what the assignments ask students to write (module: names, or
# "*" for every function and method the module defines). One list for all assignments.
REFERENCES: dict[str, tuple[str, ...]] = {
    "genlearn.metrics": ("*",),
    "genlearn.ethics": ("*",),
    "genlearn.train": ("*",),
    "genlearn.features": ("*",),
    "genlearn.models.gan_losses": ("*",),
    "genlearn.models.vae": ("reparameterize", "kl_normal_std", "bernoulli_log_likelihood",
                            "gaussian_log_likelihood", "VAE.elbo", "VAE.loss"),
    "genlearn.data.toy2d": ("_mixture",),
}

_PLAIN_SCALARS = (float, int, bool, str, np.float64, np.float32, np.int64, np.int32, np.bool_)


def _functions(obj, seen: set) -> list[types.FunctionType]:
    """The plain functions under ``obj``: itself, a class's methods, a module's definitions."""
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return [f for f in (obj.fget, obj.fset, obj.fdel) if isinstance(f, types.FunctionType)]
    if isinstance(obj, types.FunctionType):
        return [obj]
    found = []
    if isinstance(obj, type):
        for value in vars(obj).values():
            found += _functions(value, seen)
    elif isinstance(obj, types.ModuleType):
        for value in vars(obj).values():
            if getattr(value, "__module__", None) == obj.__name__:
                found += _functions(value, seen)
    return found


def reference_code(references: dict[str, tuple[str, ...]] | None = None) -> dict:
    """code object -> 'module.name' of every reference implementation that exists in this genlearn."""
    codes = {}
    for module_name, names in (references or REFERENCES).items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        targets = [module] if names == ("*",) else []
        for name in names if names != ("*",) else ():
            obj = module
            for part in name.split("."):
                obj = getattr(obj, part, None)
            if obj is not None:
                targets.append(obj)
        for target in targets:
            for func in _functions(target, set()):
                codes[func.__code__] = f"{func.__module__}.{func.__qualname__}"
    return codes


@contextmanager
def own_work(what: str = "your function"):
    """Fail the enclosing test if code inside calls one of genlearn's reference implementations.

    >>> with own_work("kl_diag_gaussian"):
    ...     kl = kl_diag_gaussian(mu, logvar)
    """
    codes = reference_code()  # kept alive while watching, so their ids stay theirs
    by_id = {id(code): name for code, name in codes.items()}
    called: list[str] = []
    previous = sys.getprofile()

    def watch(frame, event, arg):
        if event == "call":
            name = by_id.get(id(frame.f_code))
            if name is not None and name not in called:
                called.append(name)

    sys.setprofile(watch)
    try:
        yield
    finally:
        sys.setprofile(previous)
    if called:
        raise AssertionError(
            f"{what} calls genlearn's own {', '.join(called)}: this part of the exercise asks you to "
            "write it yourself, so an answer that delegates to the library's implementation scores 0 "
            "here. You may use genlearn for everything else (data, models, plots).")


def plain(value, what: str = "the answer"):
    """``value`` if it is a plain tensor, array, number or container of them (exact types), else fail."""
    kind = type(value)
    if kind is torch.Tensor or kind is np.ndarray or kind in _PLAIN_SCALARS or value is None:
        return value
    if kind in (tuple, list):
        return kind(plain(v, what) for v in value)
    if kind is dict:
        return {plain(k, what): plain(v, what) for k, v in value.items()}
    raise AssertionError(
        f"{what} is a {kind.__module__}.{kind.__qualname__}; expected a torch.Tensor, a numpy array, "
        "a number, or a tuple/list/dict of those (not a subclass)")


def checked(fn, what: str | None = None, *, plain_result: bool = True):
    """``fn`` for a test: run under :func:`own_work`, its result passed through :func:`plain`.

    ``plain_result=False`` for functions that return a model (check the model's outputs instead).
    """
    name = what or getattr(fn, "__name__", "your function")

    def call(*args, **kwargs):
        with own_work(name):
            result = fn(*args, **kwargs)
        return plain(result, f"what {name} returns") if plain_result else result

    return call
