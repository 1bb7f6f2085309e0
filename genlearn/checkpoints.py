"""Saving and loading models: atomic writes, safe reads.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values:

    {"format": "genlearn-checkpoint", "version": 2, "kind": "vae" | "gan" | ...,
     "config": {...the model's config as a dict...}, "state_dict": {...}, "metadata": {...},
     "digest": "sha256:..."}

* **Atomic**: written to a temporary file in the same folder, flushed, then renamed over
  the target, so a crash or a full disk never leaves a half-written checkpoint behind.
* **Safe**: read with ``torch.load(weights_only=True)``, which unpickles tensors and plain
  containers only, never arbitrary objects (a checkpoint from the internet cannot run code).
* **Verified**: ``digest`` is a SHA-256 of everything else (the tensors' bytes, dtypes and
  shapes, and the rest as canonical JSON), written at save and checked at load, so a changed
  byte is an error, not silently different weights (a digest, not a signature: it finds
  damage, not a forger, whose file ``weights_only`` and the checks below still keep in
  bounds). Weights that are not finite are refused at save and at load. Files of version 1
  (before digests) are read with a warning.
* **Plain metadata**: JSON-like values only (None, bool, int, float, str, lists, dicts with
  string keys; tuples become lists, numpy scalars Python numbers); anything else is refused
  at save, naming its key.
* **Clear errors**: a missing, corrupt, foreign or mismatched file raises
  :class:`CheckpointError` saying which file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_torch_save, first_line
from .device import CPU, get_device
from .models import MODEL_KINDS, kind_of

FORMAT = "genlearn-checkpoint"
VERSION = 2          # 2: with a digest; 1 (before digests) is still read, with a warning
METADATA_DEPTH = 32  # nested lists and dicts in metadata, at most
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit the model it describes."""


_HINTS = {"ndarray": ": convert it with .tolist()", "Tensor": ": convert it with .tolist() or .item()",
          "PosixPath": ": store str(path)", "WindowsPath": ": store str(path)", "function": "",
          "set": ": store a sorted list", "bytes": ": store text"}


def _plain(value, where: str = "metadata", depth: int = 0):
    """``value`` as JSON-like plain values: tuples become lists, numpy scalars and subclasses of
    int, float and str their Python base type; anything else is a TypeError naming ``where``."""
    if depth > METADATA_DEPTH:
        raise TypeError(f"{where} is nested more than {METADATA_DEPTH} levels deep")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":  # numpy scalars: np.float64(23.7)
        return value.item()
    for base in (bool, int, float, str):
        if isinstance(value, base):  # np.float64, an IntEnum, np.str_ ...
            return base(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"{where} has a key {k!r} of type {type(k).__name__}: keys must be strings")
            out[str(k)] = _plain(v, f"{where}[{str(k)!r}]", depth + 1)
        return out
    kind = type(value).__name__
    raise TypeError(f"{where} is a {kind} ({value!r:.60}): a checkpoint's metadata holds plain values only "
                    f"(None, bool, int, float, str, and lists and dicts of them){_HINTS.get(kind, '')}")


def _tensor_bytes(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(CPU).contiguous().reshape(-1).view(torch.uint8).numpy()


def digest(payload: dict) -> str:
    """The SHA-256 of a checkpoint's contents: every tensor's name, dtype, shape and bytes, and
    the other entries as canonical JSON."""
    h = hashlib.sha256()
    header = {k: payload.get(k) for k in ("format", "version", "kind", "config", "metadata")}
    h.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(payload["state_dict"]):
        t = payload["state_dict"][name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(_tensor_bytes(t))
    return f"sha256:{h.hexdigest()}"


def _not_finite(state: dict) -> tuple[str, int] | None:
    """The first tensor holding NaN or infinite values, and how many, or None."""
    for name, t in state.items():
        if torch.is_floating_point(t) and t.numel() and not bool(torch.isfinite(t).all()):
            return name, int((~torch.isfinite(t)).sum())
    return None


def save_checkpoint(model, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` (its config and weights), ``metadata`` (JSON-like values) and their
    digest atomically. Weights that are not finite, and metadata that is not plain, are
    refused before anything is written."""
    path = Path(path)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind_of(model),
        "config": _plain(dataclasses.asdict(model.config), "config"),
        "state_dict": {k: v.detach().to(CPU) for k, v in model.state_dict().items()},
        "metadata": _plain(metadata or {}),
    }
    bad = _not_finite(payload["state_dict"])
    if bad:
        raise ValueError(f"the model's weights hold {bad[1]} NaN or infinite value(s) (first in {bad[0]!r}): "
                         f"it diverged; nothing saved to {path}")
    payload["digest"] = digest(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_torch_save(path, payload)


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
            f"saved by genlearn.save_checkpoint): {type(err).__name__}: {first_line(err)}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a genlearn checkpoint (no '{FORMAT}' marker)")
    for key in ("config", "state_dict", "metadata"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path}: its {key} should be a dict, got {type(payload.get(key)).__name__}")
    bad = [k for k, v in payload["state_dict"].items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: its state_dict should hold tensors only; {bad[0]!r} is not one")
    _verify(path, payload)
    if not isinstance(payload.get("kind"), str) or payload["kind"] not in MODEL_KINDS:
        raise CheckpointError(f"{path} holds an unknown model kind {payload.get('kind')!r}")
    bad = _not_finite(payload["state_dict"])
    if bad:
        raise CheckpointError(f"{path}: its weights hold {bad[1]} NaN or infinite value(s) (first in {bad[0]!r}): "
                              f"a model that had diverged was saved")
    return payload


def _verify(path: Path, payload: dict) -> None:
    """Raise CheckpointError unless the contents match the digest saved with them (files of
    version 1, from before digests, pass with a warning)."""
    version, stored = payload.get("version"), payload.get("digest")
    if stored is None and version == 1:
        warnings.warn(f"{path} was saved by an older genlearn, without a digest: its integrity cannot be "
                      f"checked (save it again with save_checkpoint to add one)", RuntimeWarning, stacklevel=4)
        return
    try:
        actual = digest(payload)
    except (TypeError, ValueError, RuntimeError) as err:  # contents no digest can describe
        raise CheckpointError(f"{path} is damaged: its contents are not a checkpoint's ({first_line(err)})") from err
    if stored != actual:
        raise CheckpointError(f"{path} is damaged: its contents do not match the digest saved with them "
                              f"(a changed or corrupted byte); get a fresh copy, or save the model again")
    if version != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {version!r}; this genlearn reads {VERSION} (and 1)")


def _build(kind: str, cfg, state: dict):
    """A model of ``kind`` from ``cfg``, with room for the optional parts ``state`` holds: a
    kind with optional submodules says which keys need them (``expect_state``, the GAN's EMA
    generator), so this file names none of them."""
    model = MODEL_KINDS[kind].model(cfg)
    expect_state = getattr(model, "expect_state", None)
    if expect_state is not None:
        expect_state(state.keys())
    return model


def _skeleton(path: Path, kind: str, config: dict, state: dict):
    """The model ``config`` describes, built on the meta device (shapes, no memory), after its
    config passed the model's own checks; raises CheckpointError unless the stored tensors
    are exactly the ones it has. Only then is the real model worth its memory."""
    config_cls = MODEL_KINDS[kind].config
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(config) - fields
    if unknown:
        raise CheckpointError(f"{path}: config has fields this genlearn does not know: {sorted(unknown)}")
    for name, value in config.items():  # each layer needs a tensor: no list of sizes is longer
        if isinstance(value, (list, tuple)) and len(value) > len(state):
            raise CheckpointError(f"{path}: config field {name} lists {len(value)} sizes, more than "
                                  f"the {len(state)} tensors the file holds")
    try:
        cfg = config_cls(**config)
        with torch.device("meta"):
            skeleton = _build(kind, cfg, state)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: its config does not build a model: {err}") from err
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state.items()}
    if expected != stored:
        wrong = [f"{k}: config says {expected[k]}, file holds {stored[k]}"
                 for k in sorted(expected.keys() & stored.keys()) if expected[k] != stored[k]]
        missing, extra = sorted(expected.keys() - stored.keys()), sorted(stored.keys() - expected.keys())
        details = "; ".join(wrong[:3] + ([f"missing {missing[:3]}"] if missing else [])
                            + ([f"unexpected {extra[:3]}"] if extra else []))
        raise CheckpointError(f"{path}: weights do not fit the model its config describes: {details}")
    return cfg


def load_checkpoint(path: str | os.PathLike, device=None, *, expect: str | None = None):
    """Rebuild the model saved at ``path`` on ``device``; returns ``(model, metadata)``.

    ``expect="vae"`` (or another kind of :data:`genlearn.models.MODEL_KINDS`) checks the
    kind. The model comes back in eval mode. The config is checked against the model's
    bounds and against the stored tensors' shapes before the model is built, so loading
    costs no more memory than the file's own tensors.
    """
    payload = read_checkpoint(path)
    kind = payload["kind"]
    if expect is not None and kind != expect:
        raise CheckpointError(f"{path} holds a {kind.upper()}, but a {expect.upper()} was expected")
    state = payload["state_dict"]
    cfg = _skeleton(path, kind, payload["config"], state)
    model = _build(kind, cfg, state)
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
