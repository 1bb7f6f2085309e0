"""The grading bridge without kernels: the trusted side (genlearn.grading.bridge) in the test's
thread, the student's side (genlearn.grading.serve) in another, a Unix socket between them.

What crosses must be data: inputs are copies, models come back as state, gradients and
generators cross as numbers, objects the trusted side cannot rebuild stay with the student,
and a hostile student side gets nothing through but values, which the test then checks.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import socket
import tempfile
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn

from genlearn.grading import bridge as bridge_module
from genlearn.grading import serve
from genlearn.grading.bridge import Bridge, RemoteFunction, RemoteObject, StudentCodeError
from genlearn.grading.checks import checked
from genlearn.grading.wire import Blobs, Decoder, Encoder, WireError, receive_message, send_message

# ----------------------------------------------------------------------------- the wire


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, "text", [1, [2.0, "x"]], (1, (2, 3)), {"a": 1, 2: (3,), (1, "b"): None},
    float("nan"), float("inf"), np.float64(1.5), np.int64(7), np.bool_(True),
    torch.float64, torch.device("cpu"), torch.Size([2, 3]), slice(1, None, 2),
])
def test_plain_values_round_trip(value):
    enc = Encoder()
    back = Decoder(enc.blobs.items).decode(enc.encode(value))
    assert type(back) is type(value)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.bool,
                                   torch.uint8, torch.complex64])
def test_tensors_round_trip_with_identity_within_a_message(dtype):
    t = (torch.arange(12).reshape(3, 4) % 3).to(dtype)
    enc = Encoder()
    spec = enc.encode([t, t, t[1:], np.arange(5.0)])
    a, b, c, arr = Decoder(enc.blobs.items).decode(spec)
    assert a is b and a.dtype == dtype and torch.equal(a, t) and torch.equal(c, t[1:])
    assert np.array_equal(arr, np.arange(5.0))


@pytest.mark.parametrize("value, words", [
    (type("Anything", (float,), {})(1.0), "not a subclass"),
    (object(), "object"),
    ({object(): 1}, "key"),
    (np.array([object()]), "dtype object"),
    (lambda: 0, "function"),
])
def test_what_is_not_plain_data_is_refused_with_its_type(value, words):
    with pytest.raises(WireError, match=words):
        Encoder(what="the answer").encode(value)


@pytest.mark.parametrize("spec, blobs", [
    ({"$t": 0, "dtype": "float32", "shape": [3]}, [memoryview(b"\0" * 8)]),       # 8 bytes for 12
    ({"$t": 5, "dtype": "float32", "shape": [1]}, []),                            # no such blob
    ({"$t": 0, "dtype": "object", "shape": [1]}, [memoryview(b"\0" * 8)]),        # unknown dtype
    ({"$a": 0, "dtype": "|O", "shape": [1]}, [memoryview(b"\0" * 8)]),            # numpy objects
    ({"$ref": 3}, []),                                                            # unknown reference
    ({"$x": "module", "cls": ["os", "system"]}, []),                              # nothing to rebuild it
    ({"$float": "1e999999"}, []),
    ({"$dict": [[{"$t": 0, "dtype": "float32", "shape": []}, 1]]}, [memoryview(b"\0" * 4)]),  # tensor key
    ({"nothing": 1}, []),
])
def test_malformed_data_is_refused_without_running_anything(spec, blobs):
    with pytest.raises(WireError):
        Decoder(blobs).decode(spec)


def test_oversized_and_truncated_messages_are_refused():
    a, b = socket.socketpair()
    try:
        blobs = Blobs()
        blobs.add(b"\0" * 4096)
        send_message(a, {"op": "x"}, blobs)
        with pytest.raises(WireError, match="over the limit"):
            receive_message(b, max_bytes=1024)
    finally:
        a.close(), b.close()
    a, b = socket.socketpair()
    a.sendall(b"GLB1" + (10**12).to_bytes(8, "little"))
    with pytest.raises(WireError, match="over the limit"):
        receive_message(b, max_bytes=2**20)
    a.close(), b.close()
    a, b = socket.socketpair()
    a.sendall(b"EVIL" + b"\0" * 20)
    with pytest.raises(WireError, match="magic"):
        receive_message(b, max_bytes=2**20)
    a.close(), b.close()


# ----------------------------------------------------------------------------- a bridge in two threads


class Pair:
    """A trusted Bridge and a student namespace served by serve.serve in a thread."""

    def __init__(self, monkeypatch):
        self.folder = tempfile.mkdtemp(prefix="glbt-")
        self.path = os.path.join(self.folder, "s")
        self.bridge = Bridge(self.path)
        self.ns: dict = {}
        monkeypatch.setattr(serve, "_user_ns", lambda: self.ns)
        self.thread = None
        self.errors: list = []
        self.open()

    def open(self):
        nonce = os.urandom(4).hex()

        def run():
            try:
                serve.serve(self.path, nonce)
            except BaseException as err:  # recorded for the test to see
                self.errors.append(err)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        self.bridge.broken = self.bridge.unavailable = None
        self.bridge.conn = self.bridge._accept(nonce)

    def close(self):
        self.bridge.end_cell()
        self.thread.join(10)

    def fn(self, name, func):
        self.ns[name] = func
        return RemoteFunction(self.bridge, name)


@pytest.fixture
def pair(monkeypatch):
    p = Pair(monkeypatch)
    yield p
    p.close()
    p.bridge.server.close()
    shutil.rmtree(p.folder, ignore_errors=True)


def test_inputs_are_copies_whatever_the_student_does_to_them(pair):
    def vandal(weights, data):
        weights[:] = 0
        weights[0] = 1
        data["x"].add_(100)
        data["new"] = 1
        return weights.sum()

    f = pair.fn("vandal", vandal)
    weights, data = torch.tensor([0.7, 0.2, 0.1]), {"x": torch.zeros(2)}
    before = copy.deepcopy((weights, data))
    assert checked(f)(weights, data).item() == 1.0
    assert torch.equal(weights, before[0]) and torch.equal(data["x"], before[1]["x"]) and data.keys() == {"x"}


def test_gradients_of_a_result_reach_the_inputs(pair):
    f = pair.fn("reparameterize", lambda mu, logvar, g: mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g))
    mu = torch.tensor([[1.0, -2.0]]).repeat(500, 1).requires_grad_(True)
    logvar = torch.zeros(500, 2).requires_grad_(True)
    z = checked(f)(mu, logvar, torch.Generator().manual_seed(0))
    assert z.requires_grad
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    local_mu = mu.detach().clone().requires_grad_(True)
    local_lv = logvar.detach().clone().requires_grad_(True)
    (local_mu + (0.5 * local_lv).exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    assert torch.allclose(logvar.grad, local_lv.grad)


def test_a_cut_gradient_stays_cut(pair):
    f = pair.fn("cut", lambda x: (2 * x).detach())
    x = torch.ones(3, requires_grad=True)
    assert not checked(f)(x).requires_grad


def test_double_backward_inside_the_student_kernel_reaches_the_critic(pair):
    def gradient_penalty(critic, x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        return (g.norm(dim=1) - 1).square().mean()

    f = pair.fn("gradient_penalty", gradient_penalty)
    critic = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0]]))
    gp = checked(f)(critic, torch.randn(8, 2))
    assert abs(gp.item() - 1.0) < 1e-6 and gp.requires_grad
    gp.backward()
    assert torch.allclose(critic.weight.grad, torch.tensor([[2.0, 0.0]]))


def test_models_and_optimizers_given_to_a_function_come_back_changed(pair):
    class Counting(torch.optim.SGD):  # defined here, on the trusted side only
        def step(self, *args, **kwargs):
            self.steps = getattr(self, "steps", 0) + 1
            return super().step(*args, **kwargs)

    def train_step(model, opt, x):
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        return {"loss": loss.item()}

    f = pair.fn("train_step", train_step)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    reference = copy.deepcopy(model)
    opt, ref_opt = Counting(model.parameters(), lr=0.1), torch.optim.SGD(reference.parameters(), lr=0.1)
    x = torch.randn(16, 2)
    for _ in range(2):
        out = checked(f)(model, opt, x)
        train_step(reference, ref_opt, x)
    assert isinstance(out["loss"], float) and opt.steps == 2 and not model.training
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_a_genlearn_model_is_rebuilt_from_its_config_and_trained_in_place(pair):
    from genlearn.models.vae import VAE

    def fit(model, x):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(3):
            loss, _ = model.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()

    f = pair.fn("fit", fit)
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=(8,))
    before = copy.deepcopy(model.state_dict())
    f(model, torch.rand(16, 1, 8, 8).round())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_generators_come_back_advanced_and_the_global_one_moves_but_is_never_chosen(pair):
    f = pair.fn("draw", lambda g: torch.rand(3, generator=g))
    g, local = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    first, second = f(g), f(g)
    assert torch.equal(first, torch.rand(3, generator=local)) and torch.equal(second, torch.rand(3, generator=local))
    assert torch.equal(g.get_state(), local.get_state())

    chosen = torch.Generator().manual_seed(1234).get_state()

    def sets_global():
        torch.set_rng_state(chosen)
        return torch.rand(2)

    glob = pair.fn("sets_global", sets_global)
    torch.manual_seed(0)
    a, b = pair.fn("noise", lambda: torch.rand(2))(), pair.fn("noise2", lambda: torch.rand(2))()
    assert not torch.equal(a, b), "two calls that draw from the global generator must not repeat it"
    glob()
    assert not torch.equal(torch.get_rng_state(), chosen), "student code chose the grader's global generator state"


def test_callables_stay_with_the_test_and_are_called_back(pair):
    seen = []

    def record(x_t, t):
        seen.append(t.clone())
        return torch.zeros_like(x_t)

    f = pair.fn("loss", lambda eps_model, x: (eps_model(x, torch.arange(len(x))) - x).square().sum())
    assert f(record, torch.ones(4, 2)).item() == 8.0
    assert len(seen) == 1 and torch.equal(seen[0], torch.arange(4))


def test_returned_models_are_rebuilt_or_stay_with_the_student(pair):
    class Ink(nn.Module):  # the student's own class: it cannot be rebuilt by the grader
        def forward(self, x):
            return x.flatten(1).sum(1)

    pair.ns["Ink"] = Ink
    seq = pair.fn("make_seq", lambda: nn.Sequential(nn.Flatten(), nn.Linear(4, 1)))
    ink = pair.fn("make_ink", lambda: Ink())
    model = checked(seq, plain_result=False)()
    assert type(model) is nn.Sequential and model(torch.ones(2, 2, 2)).shape == (2, 1)
    remote = checked(ink, plain_result=False)()
    assert isinstance(remote, RemoteObject)
    assert torch.equal(remote(torch.ones(3, 1, 2, 2)), torch.full((3,), 4.0))
    with pytest.raises(AssertionError, match="expected a torch.Tensor"):
        checked(ink)()  # a plain answer was asked for


def test_a_module_class_path_outside_pytorch_is_never_rebuilt_here(pair):
    enc = Encoder()
    spec = {"$x": "module", "cls": ["subprocess", "Popen"], "attrs": {}, "params": {}, "buffers": {},
            "transient": [], "children": {}, "training": True}
    dec = bridge_module._FromStudentDecoder([], pair.bridge, enc, "x", collect=False)
    with pytest.raises(WireError, match="cannot be built here"):
        dec.decode(spec)


def test_exceptions_keep_their_builtin_type_message_and_where(pair):
    def fails(x):
        raise ValueError("negative std")

    class Custom(Exception):
        pass

    def custom():
        raise Custom("mine")

    with pytest.raises(ValueError, match="negative std") as info:
        pair.fn("fails", fails)(1)
    assert "raised in your code" in str(info.value) and "fails" in str(info.value)
    with pytest.raises(StudentCodeError, match="Custom: mine"):
        pair.fn("custom", custom)()
    with pytest.raises(NameError, match="not_there"):
        RemoteFunction(pair.bridge, "not_there")()
    with pytest.raises(AssertionError, match="calls genlearn's own"):
        from genlearn.metrics import frechet_distance_gaussians
        checked(pair.fn("frechet", lambda *a: frechet_distance_gaussians(*a)))(
            np.zeros(1), np.eye(1), np.zeros(1), np.eye(1))


def test_a_hostile_student_side_gets_an_error_not_a_pass(monkeypatch):
    """A thread that answers instead of serve: malformed messages and forged references."""
    folder = tempfile.mkdtemp(prefix="glbt-")
    path = os.path.join(folder, "s")
    bridge = Bridge(path)
    answers = [
        (b"raw", None),                                                            # not a message
        ({"op": "result", "value": {"$x": "obj", "memo": 99}}, None),             # a forged reference
        ({"op": "result", "value": {"$t": 0, "dtype": "float32", "shape": [10**6]}}, b"\0" * 4),
        ({"op": "result", "value": {"$x": "model", "kind": "vae", "config": {"$dict": [["latent_dim", -1]]},
                                    "params": {}, "buffers": {}}}, None),
    ]
    try:
        for answer, blob in answers:
            nonce = os.urandom(4).hex()

            def fake():
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                send_message(s, {"op": "hello", "nonce": nonce})
                receive_message(s, 2**30)
                if isinstance(answer, bytes):
                    s.sendall(answer + b"\0" * 64)
                else:
                    blobs = Blobs()
                    if blob is not None:
                        blobs.add(blob)
                    send_message(s, answer, blobs)
                try:
                    receive_message(s, 2**30)
                except Exception:
                    pass
                s.close()

            t = threading.Thread(target=fake, daemon=True)
            t.start()
            bridge.broken = bridge.unavailable = None
            bridge.conn = bridge._accept(nonce)
            with pytest.raises((WireError, bridge_module.BridgeUnavailable)):
                RemoteFunction(bridge, "f")(torch.ones(2))
            bridge.end_cell()
            t.join(5)
    finally:
        bridge.server.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_gradients_a_model_already_holds_cross_with_it(pair):
    """A training step that forgets zero_grad() adds to the gradients the model came with."""
    def step_without_zero_grad(model, opt, x):
        model(x).sum().backward()
        opt.step()

    f = pair.fn("step", step_without_zero_grad)
    model = nn.Linear(2, 1)
    reference = copy.deepcopy(model)
    opt, ref_opt = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(reference.parameters(), lr=0.1)
    x = torch.ones(4, 2)
    for _ in range(3):
        f(model, opt, x)
        step_without_zero_grad(reference, ref_opt, x)
    assert torch.allclose(model.weight, reference.weight) and torch.allclose(model.weight.grad, reference.weight.grad)


@pytest.mark.slow  # waits out the accept deadline (6 s)
def test_connections_that_never_say_hello_cannot_hold_the_bridge(monkeypatch):
    """Student code may connect to the bridge's socket itself (the path is no secret): a
    connection without the cell's nonce is dropped, and the wait has one deadline."""
    monkeypatch.setattr(bridge_module, "ACCEPT_SECONDS", 6.0)
    folder = tempfile.mkdtemp(prefix="glbt-")
    path = os.path.join(folder, "s")
    bridge = Bridge(path)
    squatters = []
    try:
        for hello in (None, {"op": "hello", "nonce": "guessed"}):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            if hello:
                send_message(s, hello)
            squatters.append(s)
        real = socket.socket(socket.AF_UNIX)
        real.connect(path)
        send_message(real, {"op": "hello", "nonce": "right"})
        conn = bridge._accept("right")
        send_message(real, {"op": "ping"})
        assert receive_message(conn, 1024)[0] == {"op": "ping"}
        conn.close()
        import time
        start = time.monotonic()
        with pytest.raises(OSError):
            bridge._accept("nobody-comes")
        assert time.monotonic() - start < 8
    finally:
        for s in squatters:
            s.close()
        bridge.server.close()
        shutil.rmtree(folder, ignore_errors=True)
