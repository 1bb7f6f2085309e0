"""The grading bridge's wire format: plain data across a process boundary, and nothing else.

A message is one JSON header and a list of binary blobs (the bytes of tensors and arrays).
Reading one runs no code: no pickle, no constructor of a class named by the sender; a tensor
is rebuilt from raw bytes of an allowed dtype whose length matches its shape, and every size
is bounded. What a side may send beyond plain data (a model, a generator, a callable) is
decided by that side's ``special`` hook, and what it may rebuild by the other side's
``rebuild`` hook (:mod:`genlearn.grading.bridge`); this module knows only the grammar:

====================================  ==============================================
value                                 JSON
====================================  ==============================================
None, bool, int, str, float           themselves
list / tuple / dict                   ``[...]`` / ``{"$tuple": [...]}`` / ``{"$dict": [[k, v], ...]}``
torch.Tensor                          ``{"$t": blob, "dtype", "shape", "grad", "param"}``
numpy.ndarray / numpy scalar          ``{"$a": blob, "dtype", "shape"}`` / ``{"$np": dtype, "v"}``
torch.dtype, torch.device, torch.Size ``{"$dtype": ..}``, ``{"$device": ..}``, ``{"$size": [..]}``
slice                                 ``{"$slice": [start, stop, step]}``
the same tensor again                 ``{"$ref": n}`` (identity is kept within a message)
anything the hook allows              ``{"$x": tag, ...}``
====================================  ==============================================
"""

from __future__ import annotations

import json
import math
import socket
import struct

import numpy as np
import torch

MAGIC = b"GLB1"
MAX_DEPTH = 48

_TORCH_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}
_NUMPY_KINDS = set("biufc")  # bool, signed, unsigned, float, complex: never object or void
_NUMPY_SCALARS = (np.bool_, np.integer, np.floating, np.complexfloating)
_PLAIN_KEYS = (str, int, float, bool, type(None))


class WireError(ValueError):
    """A message that is not well formed, too large, or holds something that may not cross."""


class Blobs:
    """The binary part of a message being written: tensors and arrays as raw bytes."""

    def __init__(self):
        self.items: list[bytes | memoryview] = []
        self.nbytes = 0

    def add(self, data) -> int:
        view = memoryview(data).cast("B")
        self.items.append(view)
        self.nbytes += view.nbytes
        return len(self.items) - 1


class Encoder:
    """Plain data to JSON + blobs. ``special(obj, encoder)`` returns a dict for what it allows
    (models, generators, ...) or None; anything else that is not plain raises WireError."""

    def __init__(self, special=None, what: str = "the value"):
        self.special = special
        self.blobs = Blobs()
        self.memo: dict[int, int] = {}     # id(tensor or special object) -> its memo number
        self.keep: list = []               # keep memoized objects alive while ids are in use
        self.count = 0
        self.what = what

    def encode(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError(f"{self.what} is nested more than {MAX_DEPTH} levels deep")
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        if kind is list:
            return [self.encode(v, depth + 1) for v in value]
        if kind is tuple:
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if kind is dict:
            return {"$dict": [[self._key(k), self.encode(v, depth + 1)] for k, v in value.items()]}
        if id(value) in self.memo:
            return {"$ref": self.memo[id(value)]}
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            return self._remember(value, self._tensor(value))
        if kind is np.ndarray:
            return self._array(value)
        if isinstance(value, _NUMPY_SCALARS) and kind.__module__ == "numpy":
            return {"$np": value.dtype.str, "v": self.encode(value.item(), depth + 1)}
        if kind is torch.dtype:
            return {"$dtype": str(value).removeprefix("torch.")}
        if kind is torch.device:
            return {"$device": str(value)}
        if kind is torch.Size:
            return {"$size": [int(v) for v in value]}
        if kind is slice:
            return {"$slice": [self.encode(v, depth + 1) for v in (value.start, value.stop, value.step)]}
        if self.special is not None:
            number = self.memo[id(value)] = self.count  # before its parts, which may refer back
            self.count += 1
            self.keep.append(value)
            spec = self.special(value, self, depth)
            if spec is not None:
                return {**spec, "$memo": number}
            del self.memo[id(value)]
        raise WireError(
            f"{self.what} contains a {kind.__module__}.{kind.__qualname__}; expected a torch.Tensor, a numpy "
            "array, a number, a string, or a tuple/list/dict of those (not a subclass)")

    def _remember(self, value, spec: dict) -> dict:
        self.memo[id(value)], self.count = self.count, self.count + 1
        self.keep.append(value)
        return {**spec, "$memo": self.memo[id(value)]}

    def _key(self, key):
        if type(key) in _PLAIN_KEYS:
            return self.encode(key)
        if type(key) is tuple and all(type(k) in _PLAIN_KEYS for k in key):
            return self.encode(key)
        raise WireError(f"{self.what} is a dict with a key of type {type(key).__name__}: keys must be "
                        "strings, numbers, booleans, None or tuples of those")

    def _tensor(self, t: torch.Tensor) -> dict:
        name = str(t.dtype).removeprefix("torch.")
        if name not in _TORCH_DTYPES:
            raise WireError(f"{self.what} holds a tensor of dtype {t.dtype}, which cannot be sent")
        if t.layout != torch.strided or t.is_quantized or t.is_nested:
            raise WireError(f"{self.what} holds a {t.layout} tensor; only dense tensors can be sent")
        data = t.detach().cpu().contiguous()  # its bytes, in host memory
        if data.dtype == torch.bfloat16:
            raw = data.view(torch.int16).numpy().tobytes()
        else:
            raw = data.numpy().tobytes() if data.numel() else b""
        return {"$t": self.blobs.add(raw), "dtype": name, "shape": list(t.shape),
                "grad": bool(t.requires_grad), "param": type(t) is torch.nn.Parameter}

    def _array(self, a: np.ndarray) -> dict:
        if a.dtype.kind not in _NUMPY_KINDS or a.dtype.fields is not None:
            raise WireError(f"{self.what} holds a numpy array of dtype {a.dtype}, which cannot be sent "
                            "(numbers and booleans only)")
        data = np.ascontiguousarray(a)
        return {"$a": self.blobs.add(data.tobytes()), "dtype": data.dtype.str, "shape": list(a.shape)}


class Decoder:
    """JSON + blobs back to values. ``rebuild(tag, spec, decoder)`` builds what a ``{"$x": tag}``
    stands for, or raises WireError; tensors come back as new leaf tensors."""

    def __init__(self, blobs: list, rebuild=None, what: str = "the value"):
        self.blobs = blobs
        self.rebuild = rebuild
        self.memo: dict[int, object] = {}
        self.what = what

    def decode(self, spec, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError(f"{self.what} is nested more than {MAX_DEPTH} levels deep")
        kind = type(spec)
        if spec is None or kind in (bool, int, str, float):
            return spec
        if kind is list:
            return [self.decode(v, depth + 1) for v in spec]
        if kind is not dict or len(spec) == 0:
            raise WireError(f"{self.what}: malformed message (a {kind.__name__} where a value was expected)")
        if "$ref" in spec:
            ref = spec["$ref"]
            if type(ref) is not int or ref not in self.memo:
                raise WireError(f"{self.what}: malformed message (reference to an unknown object)")
            return self.memo[ref]
        value = self._decode_tagged(spec, depth)
        if "$memo" in spec:
            if type(spec["$memo"]) is not int:
                raise WireError(f"{self.what}: malformed message (bad memo number)")
            self.memo[spec["$memo"]] = value
        return value

    def _decode_tagged(self, spec: dict, depth: int):
        if "$tuple" in spec:
            return tuple(self.decode(self._list(spec["$tuple"]), depth + 1))
        if "$dict" in spec:
            out = {}
            for pair in self._list(spec["$dict"]):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError(f"{self.what}: malformed message (a dict entry is not a pair)")
                key = self.decode(pair[0], depth + 1)
                if type(key) not in _PLAIN_KEYS and not (type(key) is tuple and all(type(k) in _PLAIN_KEYS for k in key)):
                    raise WireError(f"{self.what}: malformed message (a dict key of type {type(key).__name__})")
                out[key] = self.decode(pair[1], depth + 1)
            return out
        if "$float" in spec:
            text = spec["$float"]
            if text not in ("nan", "inf", "-inf"):
                raise WireError(f"{self.what}: malformed message (a float {text!r})")
            return float(text)
        if "$t" in spec:
            return self._tensor(spec)
        if "$a" in spec:
            return self._array(spec)
        if "$np" in spec:
            dtype = self._numpy_dtype(spec["$np"])
            return dtype.type(self.decode(spec.get("v"), depth + 1))
        if "$dtype" in spec:
            name = spec["$dtype"]
            if name not in _TORCH_DTYPES:
                raise WireError(f"{self.what}: unknown dtype {name!r}")
            return _TORCH_DTYPES[name]
        if "$device" in spec:
            text = spec["$device"]
            if type(text) is not str or len(text) > 20:
                raise WireError(f"{self.what}: malformed device")
            return torch.device(text)
        if "$size" in spec:
            return torch.Size(self._ints(spec["$size"], "size"))
        if "$slice" in spec:
            parts = [self.decode(v, depth + 1) for v in self._list(spec["$slice"])]
            if len(parts) != 3 or any(p is not None and type(p) is not int for p in parts):
                raise WireError(f"{self.what}: malformed slice")
            return slice(*parts)
        if "$x" in spec and self.rebuild is not None:
            return self.rebuild(spec["$x"], spec, self, depth)
        raise WireError(f"{self.what}: malformed message (unknown tag {sorted(spec)[:3]})")

    def _list(self, value) -> list:
        if type(value) is not list:
            raise WireError(f"{self.what}: malformed message (expected a list)")
        return value

    def _ints(self, value, what: str) -> list[int]:
        if type(value) is not list or len(value) > 32 or any(type(v) is not int or v < 0 for v in value):
            raise WireError(f"{self.what}: malformed {what}")
        return value

    def _blob(self, index) -> memoryview:
        if type(index) is not int or not 0 <= index < len(self.blobs):
            raise WireError(f"{self.what}: malformed message (no such blob)")
        return self.blobs[index]

    def _tensor(self, spec: dict) -> torch.Tensor:
        name = spec.get("dtype")
        if name not in _TORCH_DTYPES:
            raise WireError(f"{self.what}: a tensor of unknown dtype {name!r}")
        dtype, shape = _TORCH_DTYPES[name], self._ints(spec.get("shape"), "tensor shape")
        raw = self._blob(spec["$t"])
        numel = math.prod(shape)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if raw.nbytes != numel * itemsize:
            raise WireError(f"{self.what}: a tensor of shape {shape} and dtype {name} cannot have {raw.nbytes} bytes")
        if numel == 0:
            out = torch.empty(shape, dtype=dtype)
        elif dtype == torch.bfloat16:
            out = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16).reshape(shape)
        else:
            out = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
        if spec.get("grad") is True and (out.is_floating_point() or out.is_complex()):
            out.requires_grad_(True)
        if spec.get("param") is True and (out.is_floating_point() or out.is_complex()):
            out = torch.nn.Parameter(out, requires_grad=spec.get("grad") is True)
        return out

    def _numpy_dtype(self, text) -> np.dtype:
        if type(text) is not str or len(text) > 8:
            raise WireError(f"{self.what}: malformed numpy dtype")
        try:
            dtype = np.dtype(text)
        except TypeError:
            raise WireError(f"{self.what}: unknown numpy dtype {text!r}") from None
        if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None:
            raise WireError(f"{self.what}: numpy dtype {text!r} may not be sent")
        return dtype

    def _array(self, spec: dict) -> np.ndarray:
        dtype, shape = self._numpy_dtype(spec.get("dtype")), self._ints(spec.get("shape"), "array shape")
        raw = self._blob(spec["$a"])
        if raw.nbytes != math.prod(shape) * dtype.itemsize:
            raise WireError(f"{self.what}: an array of shape {shape} and dtype {dtype} cannot have {raw.nbytes} bytes")
        return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape).copy()


# ----------------------------------------------------------------------------- framing


def send_message(sock: socket.socket, header: dict, blobs: Blobs | None = None) -> None:
    """One message: MAGIC, the header's length and JSON, the number of blobs, each blob."""
    head = json.dumps(header, separators=(",", ":")).encode()
    items = blobs.items if blobs is not None else []
    parts = [MAGIC, struct.pack("<Q", len(head)), head, struct.pack("<I", len(items))]
    for item in items:
        parts += [struct.pack("<Q", item.nbytes), item]
    sock.sendall(b"".join(bytes(p) if isinstance(p, memoryview) else p for p in parts[:4]))
    for item in parts[4:]:
        sock.sendall(item)


def receive_message(sock: socket.socket, max_bytes: int, max_header: int = 32 * 2**20) -> tuple[dict, list]:
    """The next message on ``sock``: (header, blobs). Raises WireError on anything malformed or
    larger than ``max_bytes`` in all, EOFError when the other side closed the connection."""
    if _read_exact(sock, 4, allow_eof=True) != MAGIC:
        raise WireError("malformed message (bad magic)")
    (head_len,) = struct.unpack("<Q", _read_exact(sock, 8))
    if head_len > min(max_header, max_bytes):
        raise WireError(f"a message header of {head_len:,} bytes is over the limit")
    try:
        header = json.loads(_read_exact(sock, head_len))
    except ValueError:
        raise WireError("malformed message (the header is not JSON)") from None
    if type(header) is not dict:
        raise WireError("malformed message (the header is not an object)")
    (count,) = struct.unpack("<I", _read_exact(sock, 4))
    if count > 100_000:
        raise WireError(f"a message of {count:,} parts is over the limit")
    total, blobs = head_len, []
    for _ in range(count):
        (size,) = struct.unpack("<Q", _read_exact(sock, 8))
        total += size
        if total > max_bytes:
            raise WireError(f"a message of more than {max_bytes:,} bytes is over the limit")
        blobs.append(memoryview(_read_exact(sock, size)))
    return header, blobs


def _read_exact(sock: socket.socket, n: int, allow_eof: bool = False) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            if allow_eof and got == 0:
                raise EOFError("the other side closed the connection")
            raise WireError("the connection closed in the middle of a message")
        got += k
    return bytes(buf)
