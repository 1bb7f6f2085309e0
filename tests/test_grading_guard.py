"""The guard's hook-time code: built from named parts, and none of it looks anything up later.

The guard (genlearn.grading.guard) is loaded into the student's kernel, where student code can
replace any module global or builtin. Whatever the hook runs must therefore use only what its
parts captured while ``install`` ran, before student code: a global or builtin looked up at hook
time (``except BaseException``, ``issubclass(x, type)``) could be swapped to change what it does.
"""

from __future__ import annotations

import dis
import inspect

from genlearn.grading import guard


def _hook_time_code(code, inside=False):
    """(qualname, code) of every function nested in a part of the guard (and what they nest):
    the closures the hook calls. Comprehensions directly in a part's body run at install time."""
    for const in code.co_consts:
        if inspect.iscode(const):
            nested = inside or not const.co_name.startswith("<")
            if nested:
                yield const.co_qualname, const
            yield from _hook_time_code(const, nested)


def test_the_hooks_closures_look_up_no_global_or_builtin():
    parts = [f for f in vars(guard).values() if inspect.isfunction(f) and f.__module__ == guard.__name__]
    closures = [(name, code) for f in parts for name, code in _hook_time_code(f.__code__)]
    names = {name.split(".")[-1] for name, _ in closures}
    assert {"hook", "classify", "respond", "send", "die", "compare", "student_caller"} <= names
    looked_up = {name: sorted({i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")})
                 for name, code in closures}
    assert {k: v for k, v in looked_up.items() if v} == {}


def test_the_signer_holds_the_key_signs_lines_and_destroys_it(tmp_path):
    """The key reaches ``send`` and ``die`` through the signer's closure and no module global;
    ``die`` writes a last signed line, zeroes the key in place, and nothing is signed after it."""
    import hashlib
    import hmac
    import os

    key = bytearray(os.urandom(32))
    original = bytes(key)
    fd = os.open(tmp_path / "answers", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    send, die = guard._signer(key, fd, {"revoked": False, "seq": 0})
    assert any(c.cell_contents is key for f in (send, die) for c in f.__closure__)
    assert all(v is not key for v in vars(guard).values())
    send("n1", "check", ["a\x00finding"], [])
    die("searches the garbage collector")
    send("n2", "check", [], [])
    os.close(fd)
    lines = (tmp_path / "answers").read_text().split("\n")[:-1]  # not splitlines: it splits at \x1e
    assert len(lines) == 2 and key == bytearray(32)
    for line, seq, phase in zip(lines, ("1", "2"), ("check", "fatal")):
        body, _, mac = line.rpartition("\t")
        assert hmac.compare_digest(hmac.new(original, body.encode(), hashlib.sha256).hexdigest(), mac)
        assert body.split(guard.SEPARATOR)[:3] == [seq, "n1" if seq == "1" else "", phase]
    assert "a?finding" in lines[0]
