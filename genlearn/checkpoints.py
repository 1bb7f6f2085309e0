"""Saving and loading models: atomic writes, safe reads.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values:

    {"format": "genlearn-checkpoint", "version": 1, "kind": "vae" | "gan" | ...,
     "config": {...the model's config as a dict...}, "state_dict": {...}, "metadata": {...}}

* **Atomic**: written to a temporary file in the same folder, flushed, then renamed over
  the target, so a crash or a full disk never leaves a half-written checkpoint behind.
* **Safe**: read with ``torch.load(weights_only=True)``, which unpickles tensors and plain
  containers only, never arbitrary objects (a checkpoint from the internet cannot run code).
* **Clear errors**: a missing, corrupt, foreign or mismatched file raises
  :class:`CheckpointError` saying which file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import torch

from .device import CPU, get_device
from .models import MODEL_KINDS, kind_of

FORMAT = "genlearn-checkpoint"
VERSION = 1
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit the model it describes."""


def _plain(value):
    """Tuples -> lists, recursively: weights_only loading accepts plain containers."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def save_checkpoint(model, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` (its config and weights) and ``metadata`` (plain values) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind_of(model),
        "config": _plain(dataclasses.asdict(model.config)),
        "state_dict": {k: v.detach().to(CPU) for k, v in model.state_dict().items()},
        "metadata": _plain(metadata or {}),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, validated; raises CheckpointError on anything wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=CPU, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled objects, ...
        raise CheckpointError(
            f"{path} is not a readable genlearn checkpoint (corrupt, truncated, or not "
            f"saved by genlearn.save_checkpoint): {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a genlearn checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}; this genlearn reads {VERSION}")
    if payload.get("kind") not in MODEL_KINDS:
        raise CheckpointError(f"{path} holds an unknown model kind {payload.get('kind')!r}")
    return payload


def load_checkpoint(path: str | os.PathLike, device=None, *, expect: str | None = None):
    """Rebuild the model saved at ``path`` on ``device``; returns ``(model, metadata)``.

    ``expect="vae"`` (or another kind of :data:`genlearn.models.MODEL_KINDS`) checks the
    kind. The model comes back in eval mode.
    """
    payload = read_checkpoint(path)
    kind = payload["kind"]
    if expect is not None and kind != expect:
        raise CheckpointError(f"{path} holds a {kind.upper()}, but a {expect.upper()} was expected")
    model_cls, config_cls = MODEL_KINDS[kind].model, MODEL_KINDS[kind].config
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(payload["config"]) - fields
    if unknown:
        raise CheckpointError(f"{path}: config has fields this genlearn does not know: {sorted(unknown)}")
    try:
        model = model_cls(config_cls(**payload["config"]))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config does not build a model: {err}") from err
    state = payload["state_dict"]
    if hasattr(model, "enable_ema") and any(k.startswith("G_ema.") for k in state):
        model.enable_ema()
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the model its config describes: {err}") from err
    return model.to(get_device(device)).eval(), payload["metadata"]


def pretrained_path(name: str) -> Path:
    """A checkpoint shipped with the package (rebuilt by ``scripts/build_pretrained_*.py``)."""
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        available = sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))
        raise CheckpointError(f"no pretrained model {name!r}; shipped: {', '.join(available) or 'none'}")
    return path
