"""The student's end of the grading bridge: runs in the student's kernel, between cells.

Before each test cell the grader asks the student's kernel to run :func:`serve`, which connects
to the trusted kernel's bridge (:mod:`genlearn.grading.bridge`) and answers its requests until
the cell is done: calls of the notebook's functions (with the arguments rebuilt here, under
``checked``'s ``own_work`` when the test asked for it), descriptions of the notebook's names,
and gradients of earlier results. Everything this side sends is data (:mod:`.wire`).

This module runs where the student's code runs and is trusted with nothing: whatever it (or
code that replaced it) sends is checked on the other side like any answer.
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import traceback

import numpy as np
import torch
import torch.nn as nn

from . import transport
from .wire import Decoder, Encoder, WireError, receive_message, send_message

MAX_FROM_GRADER = 2**31
_HANDLES: dict[int, object] = {}   # objects of this kernel the trusted side holds as RemoteObjects


def serve(path: str, nonce: str) -> None:
    """Answer the trusted kernel's requests for one cell (called by the grader, never by students)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    try:
        send_message(sock, {"op": "hello", "nonce": nonce})
        _Session(sock).run()
    finally:
        sock.close()


def _user_ns() -> dict:
    import __main__

    return vars(__main__)


def _anything(module_name: str, qualname: str) -> bool:
    return True


class _Call:
    """What one call of the trusted side sent: its objects by number, for the answer to refer to."""

    def __init__(self, cid):
        self.cid = cid
        self.received: dict[int, object] = {}
        self.ids: dict[int, int] = {}  # id(object) -> its number on the trusted side


class _Session:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.calls: list[_Call] = []          # the calls being answered (callbacks can nest them)
        self.graphs: dict[int, tuple] = {}    # call id -> (outputs that require grad, inputs)

    def run(self) -> None:
        while True:
            try:
                header, blobs = receive_message(self.sock, MAX_FROM_GRADER)
            except EOFError:
                return
            if header.get("op") == "end":
                return
            self._dispatch(header, blobs)

    def _dispatch(self, header: dict, blobs: list) -> None:
        op = header.get("op")
        if op == "call":
            self._call(header, blobs)
        elif op == "describe":
            self._describe(header)
        elif op == "backward":
            self._backward(header, blobs)
        else:
            send_message(self.sock, {"op": "error", "type": "WireError", "mro": ["WireError"],
                                     "message": f"unknown request {str(op)[:30]!r}"})

    def _await(self) -> tuple[dict, list]:
        """The answer to a request of ours (a callback or an optimizer step), serving nested calls."""
        while True:
            header, blobs = receive_message(self.sock, MAX_FROM_GRADER)
            if header.get("op") in ("result", "error"):
                return header, blobs
            if header.get("op") == "end":
                raise ConnectionAbortedError("the grader ended the cell")
            self._dispatch(header, blobs)

    # ------------------------------------------------------------------ requests

    def _call(self, header: dict, blobs: list) -> None:
        call = _Call(header.get("id"))
        self.calls.append(call)
        out = Encoder(special=self._special(header.get("handles") is True), what=f"what {header.get('what')} returns")
        reply: dict = {}
        try:
            dec = Decoder(blobs, rebuild=self._rebuild(call), what="the test's arguments")
            args, kwargs = dec.decode(header.get("args")), dec.decode(header.get("kwargs"))
            inputs = [dec.memo[n] for n in header.get("grad_inputs", [])]
            _set_global_rng(dec.decode(header.get("rng")))
            target = self._target(header.get("target"))
            with torch.set_grad_enabled(header.get("grad") is True), _own_work(header.get("own_work")):
                result = target(*args, **kwargs)
            try:
                reply = {"op": "result", "value": out.encode(result)}
            except WireError as err:  # not an answer the tests can check: it fails, as plain() fails it
                raise AssertionError(str(err)) from None
            outputs = [t for t in out.keep if type(t) is torch.Tensor and t.requires_grad]
            if outputs:
                self.graphs[call.cid] = (outputs, inputs)
        except Exception as err:
            out = Encoder(special=self._special(False))
            reply = {"op": "error", **_describe(err)}
        finally:
            self.calls.pop()
        reply["modules"] = out.encode({n: transport.state_of(m) for n, m in call.received.items()
                                       if isinstance(m, nn.Module)})
        reply["generators"] = out.encode({n: g.get_state() for n, g in call.received.items()
                                          if isinstance(g, torch.Generator)})
        reply["rng"] = out.encode({"torch": torch.get_rng_state(), "numpy": np.random.get_state()})
        send_message(self.sock, reply, out.blobs)

    def _describe(self, header: dict) -> None:
        ns, items = _user_ns(), {}
        out = Encoder(special=self._special(True), what="a name of your notebook")
        for name in header.get("names") or []:
            if type(name) is not str or name not in ns:
                continue
            value = ns[name]
            if callable(value) and not isinstance(value, nn.Module):
                items[name] = {"kind": "callable"}
                continue
            try:
                items[name] = {"kind": "value", "value": out.encode(value)}
            except WireError:
                items[name] = {"kind": "other", "type": type(value).__qualname__}
        send_message(self.sock, {"op": "described", "items": out.encode(items)}, out.blobs)

    def _backward(self, header: dict, blobs: list) -> None:
        out = Encoder(what="gradients")
        try:
            outputs, inputs = self.graphs[header.get("id")]
            grads = Decoder(blobs, what="gradients").decode(header.get("grads"))
            pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None]
            found = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                                        retain_graph=True, allow_unused=True) if pairs and inputs else [None] * len(inputs)
            reply = {"op": "grads", "grads": out.encode([None if g is None else g.detach() for g in found])}
        except Exception as err:
            out = Encoder()
            reply = {"op": "error", **_describe(err)}
        send_message(self.sock, reply, out.blobs)

    def _target(self, target):
        if type(target) is not dict:
            raise WireError("malformed target")
        if "name" in target:
            ns = _user_ns()
            if target["name"] not in ns:
                raise NameError(f"name '{target['name']}' is not defined")
            return ns[target["name"]]
        obj = _HANDLES[target.get("handle")]
        attr = target.get("attr")
        if type(attr) is not str or not (attr == "__call__" or (attr.isidentifier() and not attr.startswith("_"))):
            raise AttributeError(f"no attribute {attr!r}")
        return getattr(obj, attr)

    # ------------------------------------------------------------------ objects

    def _rebuild(self, call: _Call):
        def rebuild(tag: str, spec: dict, dec: Decoder, depth: int):
            n = spec.get("$memo")
            if tag in ("model", "module"):
                obj = transport.decode_module(tag, spec, dec, depth, _anything)
            elif tag == "generator":
                obj = torch.Generator()
                obj.set_state(dec.decode(spec.get("state"), depth + 1))
            elif tag == "optimizer":
                groups = [{"params": dec.decode(g["params"], depth + 1), **(dec.decode(g["hyper"], depth + 1) or {})}
                          for g in spec.get("groups", [])]
                obj = _Optimizer(self, n, groups, str(spec.get("cls")))
            elif tag == "callback":
                obj = _Callback(self, n, str(spec.get("what")))
            elif tag == "method":
                obj = getattr(dec.decode(spec.get("self"), depth + 1), spec.get("name"))
            elif tag == "function":
                module_name, qualname = spec.get("path")
                obj = importlib.import_module(module_name)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
            elif tag == "handle":
                obj = _HANDLES[spec.get("h")]
            elif tag == "name":
                obj = _user_ns()[spec.get("name")]
            else:
                raise WireError(f"unknown object {tag!r}")
            call.received[n] = obj
            call.ids[id(obj)] = n
            return obj

        return rebuild

    def _special(self, handles: bool):
        """How what this kernel sends travels: objects the call received go back as themselves,
        models as data where the trusted side rebuilds them, else (if allowed) as handles."""
        def special(obj, enc: Encoder, depth: int):
            for call in reversed(self.calls):
                if id(obj) in call.ids and call.received.get(call.ids[id(obj)]) is obj:
                    return {"$x": "obj", "memo": call.ids[id(obj)]}
            if isinstance(obj, nn.Module) and transport.can_send_module(obj, _torch_layers):
                return transport.encode_module(obj, enc, depth)
            if handles:
                h = len(_HANDLES) + 1
                _HANDLES[h] = obj
                return {"$x": "handle", "h": h, "kind": type(obj).__name__}
            return None

        return special


def _torch_layers(module_name: str, qualname: str) -> bool:
    return module_name.startswith(transport.TORCH_LAYERS)


class _Callback:
    """A callable the test kept on its side (a lambda, a recorder): calling it asks the test."""

    def __init__(self, session: _Session, memo: int, what: str):
        self._session, self._memo, self.__name__ = session, memo, what

    def __call__(self, *args, **kwargs):
        s = self._session
        enc = Encoder(special=s._special(True), what=f"the arguments of the test's {self.__name__}")
        header = {"op": "callback", "memo": self._memo, "args": enc.encode(list(args)), "kwargs": enc.encode(kwargs)}
        send_message(s.sock, header, enc.blobs)
        reply, blobs = s._await()
        if reply.get("op") == "error":
            raise RuntimeError(f"the test's {self.__name__} failed: {reply.get('type')}: {reply.get('message')}")
        return Decoder(blobs, rebuild=s._rebuild(s.calls[-1] if s.calls else _Call(None)),
                       what="a test helper's result").decode(reply.get("value"))

    def __repr__(self) -> str:
        return f"<the test's {self.__name__}>"


class _Optimizer(torch.optim.Optimizer):
    """The test's optimizer, seen from here: ``zero_grad`` works on this kernel's parameters;
    ``step`` sends their values and gradients to the test, which steps its own optimizer."""

    def __init__(self, session: _Session, memo: int, groups: list, cls: str):
        self._session, self._memo, self._cls = session, memo, cls
        super().__init__(groups, {})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for g in self.param_groups for p in g["params"]]
        enc = Encoder(what="an optimizer step")
        header = {"op": "step", "memo": self._memo, "params": enc.encode([p.detach() for p in params]),
                  "grads": enc.encode([None if p.grad is None else p.grad.detach() for p in params]),
                  "hyper": enc.encode([{k: v for k, v in g.items() if k != "params" and type(v) in (int, float, bool, tuple)}
                                       for g in self.param_groups])}
        send_message(self._session.sock, header, enc.blobs)
        reply, blobs = self._session._await()
        if reply.get("op") == "error":
            raise RuntimeError(f"the optimizer step failed: {reply.get('type')}: {reply.get('message')}")
        values = Decoder(blobs, what="an optimizer step").decode(reply.get("value"))
        for p, v in zip(params, values):
            p.copy_(v)
        return loss

    def __repr__(self) -> str:
        return f"<the test's {self._cls} optimizer>"


def _set_global_rng(state) -> None:
    if type(state) is dict:
        if type(state.get("torch")) is torch.Tensor:
            torch.set_rng_state(state["torch"])
        if type(state.get("numpy")) is tuple:
            np.random.set_state(state["numpy"])


def _own_work(name):
    if not name:
        return contextlib.nullcontext()
    from .checks import own_work

    return own_work(str(name))


def _describe(err: BaseException) -> dict:
    """The exception as data, with the student's part of its traceback (not this module's)."""
    frames = traceback.extract_tb(err.__traceback__)
    here = __file__.removesuffix("c")
    mine = [f for f in frames if f.filename != here and "genlearn/grading/" not in f.filename]
    where = "".join(traceback.format_list(mine[-4:])).rstrip()
    message = str(err)[:3000]
    return {"type": type(err).__name__, "mro": [c.__name__ for c in type(err).__mro__],
            "message": message, "where": where[-1500:]}
