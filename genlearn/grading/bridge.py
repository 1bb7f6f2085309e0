"""The trusted end of the grading bridge: hidden tests call students' functions without sharing
a process with them.

When a notebook is autograded (:mod:`genlearn.grading.execute`), the student's cells run in
one sandboxed kernel and the test cells in a second one that never runs a line of student
code. In that trusted kernel each name a test uses that the student's notebook defines is a
:class:`RemoteFunction`; calling it (directly or through ``checked(...)``) sends the
arguments across a Unix socket to the student's kernel (:mod:`genlearn.grading.serve`), which
calls the student's function and sends back what it returned, as data (:mod:`.wire`):

* **Inputs are copies.** Tensors, arrays and numbers are sent; the test's own objects are
  never in reach of student code.
* **What a function changed comes back as state.** A model passed in is rebuilt in the
  student's kernel (:mod:`.transport`); after the call its parameters, gradients and
  train/eval flags are put back into the test's own model. A ``torch.Generator`` travels as
  its state and comes back advanced. An optimizer stays here: the student's copy asks this
  side to take each step. Any other callable (a lambda, a recorder object) stays here too and
  is called back with plain data (no gradient flows through it: pass an ``nn.Module`` when
  the student's code must differentiate through it).
* **Gradients cross as data.** A result that requires grad is tied into this kernel's
  autograd graph: ``backward()`` here asks the student's kernel for the gradients of its
  result with respect to the inputs (tensors and the parameters of models passed in).
* **Models come back as models.** A returned registered genlearn model or module of
  PyTorch's own layers is rebuilt here from its config and tensors; any other object stays in
  the student's kernel and is a :class:`RemoteObject` here, whose calls run there and return
  data, like any answer.

Nothing the student's kernel sends is run as code here: the wire format carries data only,
and the classes rebuilt are PyTorch's and genlearn's.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import os
import socket
import types

import numpy as np
import torch
import torch.nn as nn

from . import transport
from .wire import Decoder, Encoder, WireError, receive_message, send_message

MAX_FROM_STUDENT = 256 * 2**20      # bytes in one message from the student's kernel
ACCEPT_SECONDS = 30.0               # the student's kernel is idle between cells: it connects at once
LIBRARY_ROOTS = ("torch", "numpy", "math", "genlearn", "builtins", "scipy")


class StudentCodeError(Exception):
    """An exception raised in the student's kernel whose type is not one of Python's own."""


class BridgeUnavailable(RuntimeError):
    """The student's kernel is not there to answer (it stopped, hung, or closed the bridge)."""


def _trusted_layers(module_name: str, qualname: str) -> bool:
    """What this kernel rebuilds from a student's data: PyTorch's own layers (and, separately,
    genlearn's registered models, by their constructors)."""
    return module_name.startswith(transport.TORCH_LAYERS)


class Bridge:
    """The trusted kernel's side: one listening socket, one connection per cell."""

    def __init__(self, path: str):
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        os.chmod(path, 0o666)  # the student's kernel runs as another identity: it must connect
        self.server.listen(8)
        self.conn: socket.socket | None = None
        self.broken: str | None = None     # why this cell's connection can no longer be used
        self.unavailable: str | None = None
        self.calls = 0
        self.remote: dict[int, RemoteObject] = {}
        self.locked_names: set[str] = set()
        self.bound: dict[str, object] = {}  # names this bridge bound in the test kernel, and to what

    # ------------------------------------------------------------------ cells

    def begin_cell(self, nonce: str, names: list[str], locked: list[str], student: str | None) -> None:
        """Connect to the student's kernel (which the grader asked to serve ``nonce``) and bind,
        in this kernel's namespace, the names the cell uses that the student's notebook defines."""
        self.locked_names.update(locked)
        self.broken, self.unavailable = None, student
        if student is None:
            try:
                self.conn = self._accept(nonce)
            except (OSError, WireError, EOFError) as err:
                self.unavailable = f"your notebook's kernel did not answer ({err})"
        self._bind(names)

    def end_cell(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                if self.broken is None:
                    send_message(conn, {"op": "end"})
            except OSError:
                pass
            conn.close()

    def _accept(self, nonce: str) -> socket.socket:
        import time

        deadline = time.monotonic() + ACCEPT_SECONDS
        while True:  # a stale connection (from a cell that was interrupted) is closed and skipped
            self.server.settimeout(max(0.01, deadline - time.monotonic()))
            conn, _ = self.server.accept()  # socket.timeout (an OSError) once the deadline passed
            conn.settimeout(min(2.0, max(0.01, deadline - time.monotonic())))  # serve says hello at once
            try:
                header, _ = receive_message(conn, 4096)
            except (WireError, EOFError, OSError):
                conn.close()
                continue
            if header.get("op") == "hello" and header.get("nonce") == nonce:
                conn.settimeout(None)
                return conn
            conn.close()

    def _bind(self, names: list[str]) -> None:
        from IPython import get_ipython

        user_ns = get_ipython().user_ns
        wanted = [n for n in names if type(n) is str and (n not in user_ns or (
            n in self.bound and user_ns[n] is self.bound[n]))]  # ours from an earlier cell: fetched again
        if not wanted:
            return
        items, why = {}, self.unavailable
        if why is None:
            try:
                header, dec = self._request({"op": "describe", "names": wanted}, Encoder(), "the notebook's names")
                items = dec.decode(header.get("items"))
            except (BridgeUnavailable, WireError) as err:
                why = str(err)
        for name in wanted:
            item = items.get(name) if type(items) is dict else None
            kind = item.get("kind") if type(item) is dict else None
            if why is not None:
                value = Unavailable(name, why)
            elif kind == "callable":
                value = RemoteFunction(self, name)
            elif kind == "value":
                value = item.get("value")
            elif kind == "other":
                value = Unavailable(name, f"it is a {str(item.get('type'))[:80]} in your notebook; tests "
                                          "can use your functions, models and plain values")
            else:  # not defined there either: a NameError, as in the notebook
                user_ns.pop(name, None)
                self.bound.pop(name, None)
                continue
            user_ns[name] = self.bound[name] = value

    # ------------------------------------------------------------------ calls

    def call(self, target: dict, args: tuple, kwargs: dict, *, what: str, own_work: str | None = None,
             handles: bool = True):
        """Call a function or object of the student's kernel; its result, as data."""
        __tracebackhide__ = True  # tracebacks show the test and the student's code, not the bridge
        self.calls += 1
        cid = self.calls
        enc = Encoder(special=self._special, what=f"the arguments given to {what}")
        header = {"op": "call", "id": cid, "target": target, "args": enc.encode(list(args)),
                  "kwargs": enc.encode(dict(kwargs)), "own_work": own_work, "handles": handles,
                  "grad": torch.is_grad_enabled(), "what": what}
        rng = _global_rng()
        header["rng"] = enc.encode(rng)
        inputs = [(n, t) for n, t in enumerate(enc.keep)
                  if isinstance(t, torch.Tensor) and t.requires_grad]
        header["grad_inputs"] = [n for n, _ in inputs]
        reply, dec = self._request(header, enc, f"what {what} returns", outputs=True)
        value = dec.decode(reply.get("value"))
        outputs, dec.collect = dec.outputs, False
        self._write_back(reply, dec, enc, what)
        _advance_global_rng(rng, dec.decode(reply.get("rng")))
        if reply.get("op") == "error":
            raise _exception(reply, what)
        if outputs:
            value = self._connect(value, outputs, [t for _, t in inputs], cid, what)
        return value

    def _request(self, header: dict, enc: Encoder, what: str, outputs: bool = False):
        """Send one request; serve the student's callbacks and optimizer steps until its answer."""
        conn = self._connection()
        try:
            send_message(conn, header, enc.blobs)
            while True:
                reply, blobs = receive_message(conn, MAX_FROM_STUDENT)
                dec = _FromStudentDecoder(blobs, self, enc, what, collect=outputs)
                op = reply.get("op")
                if op in ("result", "error", "described", "grads"):
                    return reply, dec
                if op == "callback":
                    self._serve_callback(conn, reply, dec, enc)
                elif op == "step":
                    self._serve_step(conn, reply, dec, enc)
                else:
                    raise WireError(f"unexpected message {str(op)[:40]!r}")
        except BaseException as err:
            self.broken = self.broken or f"the bridge to your notebook's kernel failed ({type(err).__name__}: {err})"
            if isinstance(err, (OSError, EOFError)):
                raise BridgeUnavailable(self.broken) from None
            raise

    def _connection(self) -> socket.socket:
        if self.unavailable is not None:
            raise BridgeUnavailable(self.unavailable)
        if self.broken is not None or self.conn is None:
            raise BridgeUnavailable(self.broken or "your notebook's kernel is not connected")
        return self.conn

    def _write_back(self, reply: dict, dec: Decoder, enc: Encoder, what: str) -> None:
        """Models and generators the call changed: their new state, into the test's own objects."""
        for key, kind in (("modules", nn.Module), ("generators", torch.Generator)):
            states = dec.decode(reply.get(key)) or {}
            if type(states) is not dict:
                raise WireError(f"what {what} returns: malformed {key}")
            for n, state in states.items():
                target = enc.keep[n] if type(n) is int and 0 <= n < len(enc.keep) else None
                if not isinstance(target, kind):
                    raise WireError(f"what {what} returns: state for an object it was not given")
                if kind is nn.Module:
                    transport.load_state(target, state, f"the model given to {what}")
                else:
                    _set_generator(target, state, what)

    def _connect(self, value, outputs: list, inputs: list, cid: int, what: str):
        """The result's tensors that require grad, tied to the inputs through the student's graph."""
        if inputs:
            link = _Link(self, cid, outputs, inputs, what)
            connected = _FromStudentGrad.apply(link, *inputs)
        else:  # nothing here requires grad: the result is a leaf, as a fresh tensor would be
            connected = tuple(t.detach().requires_grad_(True) for t in outputs)
        mapping = {id(old): new for old, new in zip(outputs, connected)}
        return _replace(value, mapping)

    def backward(self, link: "_Link", grads: tuple) -> list:
        enc = Encoder(what="gradients")
        header = {"op": "backward", "id": link.cid, "grads": enc.encode(list(grads))}
        reply, dec = self._request(header, enc, f"the gradient of what {link.what} returns")
        if reply.get("op") == "error":
            raise _exception(reply, f"the gradient of what {link.what} returns")
        got = dec.decode(reply.get("grads"))
        if type(got) is not list or len(got) != len(link.inputs):
            raise WireError("malformed gradients")
        out = []
        for g, x in zip(got, link.inputs):
            if g is not None and (type(g) is not torch.Tensor or g.shape != x.shape):
                raise WireError(f"a gradient of what {link.what} returns has the wrong shape")
            out.append(None if g is None else g.to(x.dtype))
        return out

    def _serve_callback(self, conn, reply: dict, dec: Decoder, enc: Encoder) -> None:
        fn = _kept(enc, reply.get("memo"), object)
        out = Encoder(special=self._special, what="a test helper's result")
        try:
            args, kwargs = dec.decode(reply.get("args")), dec.decode(reply.get("kwargs"))
            if type(args) is not list or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise WireError("malformed callback")
            header = {"op": "result", "value": out.encode(fn(*args, **kwargs))}
        except Exception as err:  # the test's own helper failed: the student's code sees the error
            out = Encoder()
            header = {"op": "error", **_describe_error(err)}
        send_message(conn, header, out.blobs)

    def _serve_step(self, conn, reply: dict, dec: Decoder, enc: Encoder) -> None:
        opt = _kept(enc, reply.get("memo"), torch.optim.Optimizer)
        params = [p for group in opt.param_groups for p in group["params"]]
        values, grads, hyper = (dec.decode(reply.get(k)) for k in ("params", "grads", "hyper"))
        if type(values) is not list or type(grads) is not list or len(values) != len(params) \
                or len(grads) != len(params) or type(hyper) is not list or len(hyper) != len(opt.param_groups):
            raise WireError("malformed optimizer step")
        for p, v, g in zip(params, values, grads):
            transport._assign(p, v, "a parameter")
            if g is not None and (type(g) is not torch.Tensor or g.shape != p.shape):
                raise WireError("malformed optimizer step (a gradient of the wrong shape)")
            p.grad = None if g is None else g.to(p.dtype)
        for group, settings in zip(opt.param_groups, hyper):
            for key, value in (settings.items() if type(settings) is dict else ()):
                if key in group and key != "params" and type(value) is type(group[key]) \
                        and type(value) in (int, float, bool, tuple):
                    group[key] = value
        out = Encoder(what="an optimizer step")
        try:
            opt.step()
            header = {"op": "result", "value": out.encode([p.detach() for p in params])}
        except Exception as err:
            out = Encoder()
            header = {"op": "error", **_describe_error(err)}
        send_message(conn, header, out.blobs)

    # ------------------------------------------------------------------ what crosses

    def _special(self, obj, enc: Encoder, depth: int):
        """How an argument that is not plain data travels to the student's kernel."""
        if isinstance(obj, RemoteObject):
            return {"$x": "handle", "h": obj._handle}
        if isinstance(obj, RemoteFunction):
            return {"$x": "name", "name": obj._name}
        if isinstance(obj, nn.Module):
            if transport.can_send_module(obj, self._student_layers):
                return transport.encode_module(obj, enc, depth)
            return {"$x": "callback", "what": type(obj).__name__}
        if isinstance(obj, torch.Generator):
            return {"$x": "generator", "state": enc.encode(obj.get_state(), depth + 1)}
        if isinstance(obj, torch.optim.Optimizer):
            groups = [{"params": [enc.encode(p, depth + 1) for p in g["params"]],
                       "hyper": enc.encode({k: v for k, v in g.items() if k != "params" and _plainish(v)}, depth + 1)}
                      for g in obj.param_groups]
            return {"$x": "optimizer", "cls": type(obj).__name__, "groups": groups}
        if isinstance(obj, types.MethodType) and isinstance(obj.__self__, nn.Module) \
                and getattr(type(obj.__self__), obj.__name__, None) is obj.__func__ \
                and transport.can_send_module(obj.__self__, self._student_layers):
            return {"$x": "method", "self": enc.encode(obj.__self__, depth + 1), "name": obj.__name__}
        path = _library_path(obj)
        if path is not None:
            return {"$x": "function", "path": path}
        if callable(obj):
            return {"$x": "callback", "what": type(obj).__name__}
        return None

    def _student_layers(self, module_name: str, qualname: str) -> bool:
        """What the student's kernel can rebuild: PyTorch's layers, genlearn's classes, and classes
        that the notebook's locked cells define (they ran there too)."""
        if module_name.startswith((transport.TORCH_LAYERS, "genlearn.")):
            return True
        return module_name == "__main__" and qualname.split(".")[0] in self.locked_names


class _FromStudent:
    """Marks what the bridge bound in the test kernel's namespace (rebound at every cell)."""


class RemoteFunction(_FromStudent):
    """A function (or class, or callable) of the student's notebook, called across the bridge."""

    _genlearn_remote = True

    def __init__(self, bridge: Bridge, name: str):
        self._bridge, self._name = bridge, name
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        return self._bridge.call({"name": self._name}, args, kwargs, what=self._name)

    def checked_call(self, args, kwargs, *, own_work: str, plain: bool):
        """What ``checked(fn)(...)`` does across the bridge: no genlearn reference inside the call,
        and (unless ``plain`` is False) nothing but plain data back."""
        __tracebackhide__ = True
        return self._bridge.call({"name": self._name}, args, kwargs, what=self._name, own_work=own_work,
                                 handles=not plain)

    def __repr__(self) -> str:
        return f"<your function {self._name} (runs in your notebook's kernel)>"


class RemoteObject(_FromStudent):
    """An object that stays in the student's kernel (a model of the student's own classes, say):
    calling it, or any of its methods, runs there and returns data."""

    _genlearn_remote = True

    def __init__(self, bridge: Bridge, handle: int, kind: str):
        self._bridge, self._handle, self._kind = bridge, handle, kind
        self.__name__ = kind

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        return self._bridge.call({"handle": self._handle, "attr": "__call__"}, args, kwargs, what=f"your {self._kind}")

    def checked_call(self, args, kwargs, *, own_work: str, plain: bool):
        __tracebackhide__ = True
        return self._bridge.call({"handle": self._handle, "attr": "__call__"}, args, kwargs,
                                 what=f"your {self._kind}", own_work=own_work, handles=not plain)

    def __getattr__(self, name: str):
        if name.startswith("__") or not name.isidentifier():
            raise AttributeError(name)
        bridge, handle, kind = self._bridge, self._handle, self._kind

        def method(*args, **kwargs):
            __tracebackhide__ = True
            return bridge.call({"handle": handle, "attr": name}, args, kwargs, what=f"your {kind}'s {name}")

        method.__name__ = name
        return method

    def __repr__(self) -> str:
        return f"<your {self._kind} (it stays in your notebook's kernel)>"


class Unavailable(_FromStudent):
    """A name the tests need that cannot be used here: any use fails with the reason."""

    def __init__(self, name: str, why: str):
        self._name, self._why = name, why

    def _fail(self, *args, **kwargs):
        raise AssertionError(f"{self._name} cannot be used by the tests: {self._why}")

    __call__ = __getattr__ = __iter__ = __len__ = __bool__ = __getitem__ = _fail

    def __repr__(self) -> str:
        return f"<{self._name}: unavailable ({self._why})>"


# ----------------------------------------------------------------------------- decoding


class _FromStudentDecoder(Decoder):
    """Decodes the student's messages: its objects back to ours, its models rebuilt (PyTorch's
    layers and genlearn's registered models only), anything else a RemoteObject; collects the
    tensors that require grad (the outputs to tie into our graph)."""

    def __init__(self, blobs, bridge: Bridge, sent: Encoder, what: str, collect: bool):
        super().__init__(blobs, rebuild=self._rebuild_object, what=what)
        self.bridge, self.sent, self.collect, self.outputs = bridge, sent, collect, []

    def _tensor(self, spec):
        t = super()._tensor(spec)
        if type(t) is torch.Tensor and t.requires_grad:
            t = t.detach()
            if self.collect:
                self.outputs.append(t)
        return t

    def _rebuild_object(self, tag: str, spec: dict, dec: Decoder, depth: int):
        if tag == "obj":
            return _kept(self.sent, spec.get("memo"), object)
        if tag in ("model", "module"):
            return transport.decode_module(tag, spec, dec, depth, _trusted_layers)
        if tag == "handle":
            h = spec.get("h")
            if type(h) is not int:
                raise WireError(f"{self.what}: malformed handle")
            if h not in self.bridge.remote:
                self.bridge.remote[h] = RemoteObject(self.bridge, h, str(spec.get("kind") or "object")[:60])
            return self.bridge.remote[h]
        raise WireError(f"{self.what}: it holds something that cannot come back from your kernel ({str(tag)[:30]})")


def _kept(enc: Encoder, n, kind):
    if type(n) is not int or not 0 <= n < len(enc.keep) or not isinstance(enc.keep[n], kind):
        raise WireError("a reference to an object that was not sent")
    return enc.keep[n]


def _replace(value, mapping: dict):
    if isinstance(value, torch.Tensor):
        return mapping.get(id(value), value)
    if type(value) is list:
        return [_replace(v, mapping) for v in value]
    if type(value) is tuple:
        return tuple(_replace(v, mapping) for v in value)
    if type(value) is dict:
        return {k: _replace(v, mapping) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- gradients


class _Link:
    def __init__(self, bridge: Bridge, cid: int, outputs: list, inputs: list, what: str):
        self.bridge, self.cid, self.outputs, self.inputs, self.what = bridge, cid, outputs, inputs, what


class _FromStudentGrad(torch.autograd.Function):
    """Outputs computed in the student's kernel; their backward asks it for the input gradients."""

    @staticmethod
    def forward(ctx, link: _Link, *inputs):
        ctx.link = link
        return tuple(t.clone() for t in link.outputs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        return (None, *ctx.link.bridge.backward(ctx.link, grads))


# ----------------------------------------------------------------------------- errors and state


def _describe_error(err: BaseException) -> dict:
    return {"type": type(err).__name__, "mro": [c.__name__ for c in type(err).__mro__],
            "message": str(err)[:4000]}


def _exception(reply: dict, what: str) -> BaseException:
    """The student's exception, as one of Python's own types where it was one (a torch error is
    a RuntimeError here too), else StudentCodeError; its message as the student's code gave it."""
    names = reply.get("mro") if type(reply.get("mro")) is list else []
    message = str(reply.get("message", ""))[:4000]
    where = str(reply.get("where") or "")[:1500]
    if where:
        message = f"{message}\n(raised in your code:\n{where})" if message else f"(raised in your code:\n{where})"
    for name in names:
        cls = getattr(builtins, name, None) if type(name) is str and name != "Exception" else None
        if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
            try:
                return cls(message)
            except Exception:
                break
    return StudentCodeError(f"{str(reply.get('type'))[:80]}: {message}")


def _set_generator(gen: torch.Generator, state, what: str) -> None:
    current = gen.get_state()
    if type(state) is not torch.Tensor or state.dtype != torch.uint8 or state.shape != current.shape:
        raise WireError(f"what {what} returns: a generator state of the wrong kind")
    if not torch.equal(state, current):
        gen.set_state(state)


def _global_rng() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}


def _advance_global_rng(sent: dict, after) -> None:
    """The student's code drew from the global generators: move ours on too, to a state mixed
    from where it was and where theirs ended. Student code can make the same draws happen
    again only by putting the state back (as it could in one process), and never choose ours."""
    if type(after) is not dict:
        return
    before_t, after_t = sent["torch"], after.get("torch")
    if type(after_t) is torch.Tensor and not torch.equal(after_t, before_t):
        digest = hashlib.sha256(before_t.numpy().tobytes() + after_t.numpy().tobytes()).digest()
        torch.manual_seed(int.from_bytes(digest[:8], "little"))
    before_n, after_n = sent["numpy"], after.get("numpy")
    if type(after_n) is tuple and len(after_n) == 5 and type(after_n[1]) is np.ndarray \
            and (not np.array_equal(after_n[1], before_n[1]) or after_n[2] != before_n[2]):
        digest = hashlib.sha256(before_n[1].tobytes() + after_n[1].tobytes() + repr(after_n[2]).encode()).digest()
        np.random.seed(int.from_bytes(digest[:4], "little"))


def _plainish(value) -> bool:
    return value is None or type(value) in (int, float, bool, str, tuple) or type(value) is torch.Tensor


def _library_path(obj) -> list[str] | None:
    """[module, qualname] of a function or class of the libraries both kernels import, when that
    path leads back to ``obj`` (so the student's kernel can take its own)."""
    if not isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type)) and \
            type(obj).__name__ not in ("builtin_function_or_method", "ufunc"):
        return None
    module_name, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if type(module_name) is not str or type(qualname) is not str or "<" in qualname:
        return None
    if module_name.split(".")[0] not in LIBRARY_ROOTS:
        return None
    try:
        found = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return [module_name, qualname] if found is obj else None


# ----------------------------------------------------------------------------- the kernel's one bridge

_BRIDGE: Bridge | None = None


def start(path: str) -> None:
    """Called once by the grader when this (trusted) kernel starts."""
    global _BRIDGE
    _BRIDGE = Bridge(path)


def begin_cell(nonce: str, names: list[str], locked: list[str], student: str | None = None) -> None:
    _BRIDGE.begin_cell(nonce, names, locked, student)


def end_cell() -> None:
    _BRIDGE.end_cell()
