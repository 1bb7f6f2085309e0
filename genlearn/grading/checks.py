"""Helpers the assignments' tests use, so that a grade rewards the student's own work.

* :func:`own_work`: the exercises ask students to write things genlearn already has
  (``reparameterize``, the KL term, ``d_loss``, ``mode_coverage``, ...). A test runs the
  student's function inside ``with own_work():``, during which genlearn's reference
  implementations of those things raise instead of answering; a call fails the test with a
  message that says why, however the student reached the function (alias, closure, method,
  another genlearn function that uses it). Everything else in genlearn stays allowed
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
    # ex07 asks for q(x_t | x_0), the denoising loss and the sampling step; the schedule buffers
    # and the network (Diffusion.eps) stay allowed: the tests hand them to the student's functions.
    "genlearn.models.diffusion": ("Diffusion.q_sample", "Diffusion.loss", "Diffusion.noised", "Diffusion.sample"),
}

_SWAPS: dict = {}  # own_work's swaps, built on first use (one dict, changed in place: never rebound)
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


def _reference_functions(references: dict[str, tuple[str, ...]] | None = None) -> list:
    """(function, 'module.name') of every reference implementation in this genlearn, with the
    functions that decorated ones wrap."""
    found, seen = [], set()
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
                label = f"{func.__module__}.{func.__qualname__}"
                while isinstance(func, types.FunctionType) and id(func) not in seen:
                    seen.add(id(func))
                    found.append((func, label))
                    func = getattr(func, "__wrapped__", None)
    return found


def reference_names() -> list[str]:
    """'module.name' of every reference implementation the checks refuse."""
    return sorted({label for _, label in _reference_functions()})


def _stub(code, name: str):
    """A code object that fails the test, fit for a function with ``code``'s free variables."""
    message = (f"calls genlearn's own {name}: this part of the exercise asks you to write it yourself, so "
               "an answer that delegates to the library's implementation scores 0 here. You may use "
               "genlearn for everything else (data, models, plots).")
    free = code.co_freevars
    source = ("def _outer():\n" + "".join(f"    {v} = None\n" for v in free)
              + "    def stub(*args, **kwargs):\n"
              + (f"        ({', '.join(free)},)\n" if free else "")
              + f"        raise AssertionError({message!r})\n    return stub\n")
    namespace: dict = {}
    exec(compile(source, f"<genlearn.grading.checks: {name}>", "exec"), namespace)  # noqa: S102
    return namespace["_outer"]().__code__


@contextmanager
def own_work(what: str = "your function"):
    """Fail the enclosing test if code inside calls one of genlearn's reference implementations.

    While the block runs, every reference function (and the function it wraps, for decorated
    ones) has its code replaced by one that raises ``AssertionError`` saying what was called;
    afterwards the originals are put back. Calls cost nothing extra, so training loops run at
    full speed, and aliases, closures and methods that reach the same function objects are
    caught. (A copy built from a reference's ``__code__`` beforehand is not: reading
    ``__code__`` is one of the things the grading guard reports as tampering.)

    >>> with own_work("kl_diag_gaussian"):
    ...     kl = kl_diag_gaussian(mu, logvar)
    """
    key = tuple(sorted(REFERENCES.items()))
    if _SWAPS.get("key") != key:  # built once: a test that calls a function many times pays once
        _SWAPS.update(key=key, depth=0, swaps=[(func, func.__code__, _stub(func.__code__, name))
                                               for func, name in _reference_functions()])
    outermost = _SWAPS["depth"] == 0
    _SWAPS["depth"] += 1
    try:
        if outermost:
            for func, _, stub in _SWAPS["swaps"]:
                func.__code__ = stub
        yield
    finally:
        _SWAPS["depth"] -= 1
        if outermost:
            for func, original, _ in reversed(_SWAPS["swaps"]):
                func.__code__ = original


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
        __tracebackhide__ = True  # a failure's traceback shows the test and the function, not this wrapper
        if getattr(fn, "_genlearn_remote", False):  # autograding: the function is in the student's kernel
            result = fn.checked_call(args, kwargs, own_work=name, plain=plain_result)
        else:
            with own_work(name):
                result = fn(*args, **kwargs)
        return plain(result, f"what {name} returns") if plain_result else result

    return call
