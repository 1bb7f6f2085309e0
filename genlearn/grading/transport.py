"""How models and other objects cross the grading bridge, on top of :mod:`.wire`'s plain data.

Both sides of the bridge use these to describe an ``nn.Module`` as data and to build it again:

* a registered genlearn model (``VAE``, ``GAN``, ``Diffusion``, ...: :data:`genlearn.models.MODEL_KINDS`)
  as its kind, its config's plain fields and its parameters and buffers; rebuilt by calling
  the class with that config, then putting the parameter tensors in place (so an optimizer
  that holds them still updates the model);
* a module made only of PyTorch's own layers (``torch.nn.modules``: ``Sequential``,
  ``Linear``, ``Conv2d``, ...) as its class path, its plain attributes, its parameters,
  buffers and children; rebuilt with ``cls.__new__`` and those parts, never by running code
  the sender chose;
* anything else stays where it is: the side that holds it is asked to run it (see
  :mod:`.bridge` and :mod:`.serve`).

Which classes a side accepts is its own decision (``allow``): the grader's trusted kernel
rebuilds only PyTorch's layers and genlearn's registered models; the student's kernel may
also rebuild the notebook's own classes.
"""

from __future__ import annotations

import dataclasses
import importlib
import keyword

import torch
import torch.nn as nn

from .wire import Decoder, Encoder, WireError

_MODULE_INTERNALS = frozenset(vars(nn.Module()))  # _parameters, _buffers, _modules, hooks, training, ...
_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
          "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")
TORCH_LAYERS = "torch.nn.modules."


def model_kinds() -> dict:
    """genlearn's registered model kinds, looked up by name (grading imports no library code at import)."""
    return importlib.import_module("genlearn.models").MODEL_KINDS


def registered_kind(module) -> str | None:
    for name, kind in model_kinds().items():
        if type(module) is kind.model:
            return name
    return None


def resolve_class(path, allow) -> type | None:
    """The nn.Module class at ``[module, qualname]`` if ``allow(module, qualname)`` says so."""
    if type(path) is not list or len(path) != 2 or not all(type(p) is str and len(p) < 200 for p in path):
        return None
    module_name, qualname = path
    if not allow(module_name, qualname):
        return None
    obj = importlib.import_module(module_name) if module_name != "__main__" else _main_namespace()
    for part in qualname.split("."):
        if not part.isidentifier() or keyword.iskeyword(part):
            return None
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, nn.Module) else None


def _main_namespace() -> dict:
    import __main__

    return vars(__main__)


def _has_hooks(module) -> bool:
    return any(getattr(m, h, None) for m in module.modules() for h in _HOOKS)


def can_send_module(module, allow) -> bool:
    """True when ``module`` (and every module in it) can be described as data for a side that
    rebuilds the classes ``allow`` accepts; else it stays on this side."""
    if _has_hooks(module):
        return False
    if registered_kind(module) is not None:
        return True
    cls = type(module)
    if not allow(cls.__module__, cls.__qualname__):
        return False
    for key, value in vars(module).items():
        if key in _MODULE_INTERNALS:
            continue
        if not key.isidentifier() or key.startswith("__") or not _is_plain(value):
            return False
    return all(c is None or can_send_module(c, allow) for c in module._modules.values())


def _is_plain(value, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if value is None or type(value) in (bool, int, float, str, torch.dtype, torch.Size):
        return True
    if type(value) in (tuple, list):
        return all(_is_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def encode_module(module, enc: Encoder, depth: int) -> dict:
    """The data of a module for which :func:`can_send_module` is true."""
    kind = registered_kind(module)
    if kind is None:
        spec = {"$x": "module", **_layer_spec(module, enc, depth)}
    else:
        config = {f.name: getattr(module.config, f.name) for f in dataclasses.fields(module.config)}
        spec = {"$x": "model", "kind": kind, "config": enc.encode(config, depth + 1),
                "params": {n: enc.encode(p, depth + 1) for n, p in module.named_parameters(remove_duplicate=False)},
                "buffers": {n: enc.encode(b, depth + 1) for n, b in module.named_buffers(remove_duplicate=False)},
                "training": {n: m.training for n, m in module.named_modules(remove_duplicate=False)}}
    # gradients the parameters already hold (a training step without zero_grad() adds to them)
    spec["grads"] = {n: enc.encode(p.grad.detach(), depth + 1)
                     for n, p in module.named_parameters(remove_duplicate=False) if p.grad is not None}
    return spec


def _layer_spec(module, enc: Encoder, depth: int) -> dict:
    cls = type(module)
    return {
        "cls": [cls.__module__, cls.__qualname__],
        "attrs": {k: enc.encode(v, depth + 1) for k, v in vars(module).items() if k not in _MODULE_INTERNALS},
        "params": {k: None if p is None else enc.encode(p, depth + 1) for k, p in module._parameters.items()},
        "buffers": {k: None if b is None else enc.encode(b, depth + 1) for k, b in module._buffers.items()},
        "transient": sorted(module._non_persistent_buffers_set),
        "children": {k: None if c is None else _layer_spec(c, enc, depth + 1) for k, c in module._modules.items()},
        "training": bool(module.training),
    }


def decode_module(tag: str, spec: dict, dec: Decoder, depth: int, allow):
    """Build the module that :func:`encode_module` described; WireError if it may not be built here."""
    module = _build_model(spec, dec, depth) if tag == "model" else _build_layers(spec, dec, depth, allow)
    grads = spec.get("grads") or {}
    if type(grads) is not dict:
        raise WireError(f"{dec.what}: malformed gradients")
    params = dict(module.named_parameters(remove_duplicate=False))
    for name, value in grads.items():
        g = dec.decode(value, depth + 1)
        if name not in params or type(g) is not torch.Tensor or g.shape != params[name].shape:
            raise WireError(f"{dec.what}: a gradient for {str(name)[:80]} that does not fit the model")
        params[name].grad = g.to(params[name].dtype)
    return module


def _build_model(spec: dict, dec: Decoder, depth: int):
    kinds = model_kinds()
    kind = spec.get("kind")
    if kind not in kinds:
        raise WireError(f"{dec.what}: unknown model kind {kind!r}")
    config = dec.decode(spec.get("config"), depth + 1)
    if type(config) is not dict:
        raise WireError(f"{dec.what}: a {kind} model without its config")
    try:
        model = kinds[kind].model(kinds[kind].config(**config))
    except (TypeError, ValueError) as err:
        raise WireError(f"{dec.what}: a {kind} model with a config it cannot be built from ({err})") from None
    _put_tensors(model, spec, dec, depth, kind)
    return model


def _put_tensors(model, spec: dict, dec: Decoder, depth: int, what: str) -> None:
    """The sender's parameter and buffer tensors, as the built model's own (same objects)."""
    for table, own in (("params", dict(model.named_parameters(remove_duplicate=False))),
                       ("buffers", dict(model.named_buffers(remove_duplicate=False)))):
        sent = spec.get(table)
        if type(sent) is not dict or set(sent) != set(own):
            raise WireError(f"{dec.what}: the {table} of a {what} model do not match its config")
        for name, value in sent.items():
            tensor = dec.decode(value, depth + 1)
            if type(tensor) not in (torch.Tensor, nn.Parameter) or tensor.shape != own[name].shape \
                    or tensor.dtype != own[name].dtype:
                raise WireError(f"{dec.what}: {what} {table[:-1]} {name} has the wrong shape or dtype")
            prefix, _, leaf = name.rpartition(".")
            owner = model.get_submodule(prefix)
            if table == "params":
                owner._parameters[leaf] = tensor if type(tensor) is nn.Parameter else nn.Parameter(tensor)
            else:
                owner._buffers[leaf] = tensor
    _set_training(model, spec.get("training"))


def _set_training(model, flags) -> None:
    if type(flags) is not dict:
        return
    for name, sub in model.named_modules(remove_duplicate=False):
        if type(flags.get(name)) is bool:
            sub.training = flags[name]


def _build_layers(spec: dict, dec: Decoder, depth: int, allow):
    if depth > 40:
        raise WireError(f"{dec.what}: a module nested too deeply")
    cls = resolve_class(spec.get("cls"), allow)
    if cls is None:
        raise WireError(f"{dec.what}: a module of class {'.'.join(map(str, spec.get('cls') or []))} cannot be built here")
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    attrs = spec.get("attrs")
    if type(attrs) is not dict:
        raise WireError(f"{dec.what}: malformed module")
    for key, value in attrs.items():
        if not key.isidentifier() or key.startswith("__") or key in _MODULE_INTERNALS:
            raise WireError(f"{dec.what}: a module attribute named {key!r}")
        decoded = dec.decode(value, depth + 1)
        if not _is_plain(decoded):
            raise WireError(f"{dec.what}: module attribute {key} is not plain data")
        module.__dict__[key] = decoded
    for table, target in (("params", module._parameters), ("buffers", module._buffers)):
        entries = spec.get(table)
        if type(entries) is not dict:
            raise WireError(f"{dec.what}: malformed module")
        for key, value in entries.items():
            tensor = None if value is None else dec.decode(value, depth + 1)
            if tensor is not None and type(tensor) not in (torch.Tensor, nn.Parameter):
                raise WireError(f"{dec.what}: module {table[:-1]} {key} is not a tensor")
            if table == "params" and tensor is not None and type(tensor) is not nn.Parameter:
                tensor = nn.Parameter(tensor, requires_grad=tensor.requires_grad)
            target[str(key)] = tensor
    transient = spec.get("transient") or []
    module._non_persistent_buffers_set.update(str(k) for k in transient if k in module._buffers)
    children = spec.get("children")
    if type(children) is not dict:
        raise WireError(f"{dec.what}: malformed module")
    for key, value in children.items():
        module._modules[str(key)] = None if value is None else _build_layers(value, dec, depth + 1, allow)
    module.training = spec.get("training") is True
    return module


def state_of(module) -> dict:
    """What a call may have changed in a module: its tensors, their gradients, train/eval."""
    return {
        "params": {n: p for n, p in module.named_parameters(remove_duplicate=False)},
        "grads": {n: p.grad for n, p in module.named_parameters(remove_duplicate=False)},
        "buffers": {n: b for n, b in module.named_buffers(remove_duplicate=False)},
        "training": {n: m.training for n, m in module.named_modules(remove_duplicate=False)},
    }


def load_state(module, state, what: str) -> None:
    """Put a state from :func:`state_of` (decoded) into ``module``, in place, touching only what
    changed (a tensor written needlessly would break a graph that saved it for backward)."""
    if type(state) is not dict:
        raise WireError(f"{what}: malformed model state")
    params = dict(module.named_parameters(remove_duplicate=False))
    buffers = dict(module.named_buffers(remove_duplicate=False))
    for table, own in (("params", params), ("buffers", buffers)):
        sent = state.get(table)
        if type(sent) is not dict or set(sent) != set(own):
            raise AssertionError(f"{what} came back with other {table} than it was given: "
                                 "change a model's values, never its layers")
        for name, value in sent.items():
            _assign(own[name], value, f"{what}'s {name}")
    grads = state.get("grads") if type(state.get("grads")) is dict else {}
    for name, p in params.items():
        g = grads.get(name)
        if g is None:
            p.grad = None
        elif type(g) is torch.Tensor and g.shape == p.shape:
            if p.grad is None or not torch.equal(p.grad, g):
                p.grad = g.to(p.dtype)
        else:
            raise AssertionError(f"{what}'s gradient of {name} has the wrong shape")
    _set_training(module, state.get("training"))


def _assign(target: torch.Tensor, value, what: str) -> None:
    if type(value) not in (torch.Tensor, nn.Parameter) or value.shape != target.shape:
        raise AssertionError(f"{what} came back with shape {getattr(value, 'shape', None)}, not {tuple(target.shape)}")
    if not torch.equal(value.to(target.dtype), target.detach()):
        with torch.no_grad():
            target.copy_(value)
