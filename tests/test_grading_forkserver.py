"""genlearn.grading.forkserver: kernels forked into their sandboxes from a template that has
imported torch, checked against kernels started as new interpreters in the same sandbox."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import time

import pytest

from genlearn.grading import forkserver, sandbox
from genlearn.grading.sandbox import Sandbox, SandboxKernelManager

pytestmark = [
    pytest.mark.skipif(Sandbox().unavailable_reason() is not None, reason="no sandbox here"),
    pytest.mark.skipif(os.geteuid() != 0, reason="kernels are forked into sandboxes only as root"),
]

PROBE = r'''
import sys, os, json, resource, socket
info = {"torch_preloaded": "torch" in sys.modules, "dynamo_preloaded": "torch._dynamo" in sys.modules}
st = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
info["status"] = {k: st[k].split() for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                              "CapAmb", "NoNewPrivs", "Seccomp")}
info["limits"] = {n: resource.getrlimit(getattr(resource, n))
                  for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CORE")}
info["mounts"] = sorted(" ".join(l.split()[4:6]) + " " + l.split(" - ")[1].split()[0]
                        for l in open("/proc/self/mountinfo"))
info["hostname"] = socket.gethostname()
info["net"] = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
info["cwd"], info["path"], info["env"] = os.getcwd(), sys.path, dict(os.environ)
info["ns"] = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "pid", "net", "ipc", "uts", "cgroup")}
info["procs"] = sorted(open(f"/proc/{p}/comm").read().strip() for p in os.listdir("/proc") if p.isdigit())
info["umask"] = os.umask(0o22)
info["argv"] = [sys.argv[0], *sys.argv[3:], str(get_ipython().history_manager.hist_file)]
info["files"] = []
for f in os.listdir("/proc/self/fd"):
    try:
        t = os.readlink(f"/proc/self/fd/{f}")
    except OSError:  # the listing's own
        continue
    if t.startswith("/") and t != "/dev/null" and not t.endswith("kernel-stderr.log"):
        info["files"].append(t)
print("JSON" + json.dumps(info))
'''


@pytest.fixture
def forks():
    """Skip where this torch build's template leaves a kernel too little of the default 2 GB
    address space (a CUDA build maps several GB; kernels then start as new interpreters)."""
    from genlearn.grading.sandbox import _kernel_env, _template_for, parse_size

    server = _template_for(_kernel_env(dict(os.environ), "/tmp"), logging.getLogger(__name__))
    if server is None or parse_size("2G") - server.address_space() < sandbox.FORK_ROOM:
        pytest.skip("the kernel template does not fit the default memory limit with this torch build")


def _run(coro):
    # A loop of its own in a thread of its own (another test may hold one in this thread).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _kernel(work, code: str, fork: bool = True, **settings):
    km = SandboxKernelManager(kernel_name="python3", sandbox=Sandbox(fork_kernels=fork, **settings))
    await km.start_kernel(cwd=str(work), extra_arguments=["--HistoryManager.hist_file=:memory:"])  # as nbgrader
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        out = []
        await kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(
            m["content"].get("text", "") or m["content"].get("evalue", "")))
        return "".join(out), km
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


def _probe(work, fork: bool) -> dict:
    text, km = _run(_kernel(work, PROBE, fork))
    assert "JSON" in text, text
    assert km.started_as == ("forked" if fork else "new interpreter")
    info = json.loads(text.split("JSON", 1)[1])
    info["mounts"] = [m.replace(km.ipc_dir, "<ipc>") for m in info["mounts"]]
    return info


def test_a_forked_kernel_is_sandboxed_as_one_started_in_its_sandbox(forks, tmp_path):
    """Identity, capabilities, limits, mounts, network, namespaces, processes, environment,
    import path, open files: the same as a new interpreter's in the same sandbox, but for
    the imports already done, the placeholder process, and one more process allowed."""
    cold, warm = _probe(tmp_path, fork=False), _probe(tmp_path, fork=True)
    assert (cold["torch_preloaded"], warm["torch_preloaded"]) == (False, True)
    assert warm["dynamo_preloaded"]  # what the first optimizer imports: 0.8 s a kernel otherwise
    assert warm["argv"][1:] == ["--HistoryManager.hist_file=:memory:", ":memory:"]
    for key in ("status", "mounts", "hostname", "net", "cwd", "path", "env", "umask", "files", "argv"):
        assert warm[key] == cold[key], key
    assert warm["status"]["Uid"][0] != "0" and warm["status"]["CapBnd"] == ["0000000000000000"]
    nproc = cold["limits"].pop("RLIMIT_NPROC")
    assert warm["limits"].pop("RLIMIT_NPROC") == [nproc[0] + 1, nproc[1] + 1]  # the placeholder counts
    assert warm["limits"] == cold["limits"]
    assert warm["procs"] == sorted(cold["procs"] + ["sleep"])
    host = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "pid", "net", "ipc", "uts")}
    for name, ns in host.items():
        assert warm["ns"][name] != ns, name  # (the cold kernel's may be reused: it ended before)


def test_every_kernel_is_forked_from_the_template_as_it_was(forks, tmp_path):
    """What one kernel changes in the modules it was given, in its files or in /tmp, the next
    kernel forked from the same template does not see."""
    first, _ = _run(_kernel(tmp_path, "import numpy, torch\nnumpy.pi = 3\ntorch.planted = 1\n"
                                      "open('/tmp/planted', 'w').write('x')\nprint(numpy.pi)"))
    assert first.strip() == "3"
    second, _ = _run(_kernel(tmp_path, "import numpy, torch, os\n"
                                       "print(numpy.pi, hasattr(torch, 'planted'), os.path.exists('/tmp/planted'))"))
    assert second.split() == ["3.141592653589793", "False", "False"]


def test_a_forked_kernel_cannot_see_or_reach_the_template(forks, tmp_path):
    (server,) = [s for s in sandbox._templates.values() if s is not None][:1] or [None]
    if server is None:
        _run(_kernel(tmp_path, "pass"))
        server = next(s for s in sandbox._templates.values() if s is not None)
    code = (f"import os\nprint('folder', os.path.exists({server.folder!r}))\n"
            "print('root procs', sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc')\n"
            "      if p.isdigit() and os.stat(f'/proc/{p}').st_uid == 0))\n"
            "print('parent', os.getppid())\n"
            "try:\n    os.setns\nexcept AttributeError:\n    pass\n"
            "import ctypes\nprint('unshare', ctypes.CDLL(None, use_errno=True).unshare(0x00020000), ctypes.get_errno())")
    text, _ = _run(_kernel(tmp_path, code))
    assert "folder False" in text
    assert "root procs ['bwrap']" in text  # bubblewrap's own init, as for a kernel started in the sandbox
    assert "parent 0" in text  # its parent, the template's fork, is outside the sandbox's PID namespace
    assert "unshare -1 1" in text  # EPERM: no capability left to make namespaces of its own
    environ = open(f"/proc/{server.process.pid}/environ", "rb").read().split(b"\0")
    assert b"HOME=/nonexistent" in environ
    assert all(e.split(b"=")[0] in {k.encode() for k in server.env} for e in environ if e)


def test_the_sandbox_ends_when_the_forked_kernel_does(forks, tmp_path):
    async def run():
        km = SandboxKernelManager(kernel_name="python3", sandbox=Sandbox())
        await km.start_kernel(cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        assert km._joined is not None, "the kernel was not forked"
        kc.execute("import os; os._exit(3)")
        deadline = time.monotonic() + 20
        while await km.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        alive, tail = await km.is_alive(), km.stderr_tail()
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        return alive, tail

    alive, tail = _run(run())
    assert not alive, "the sandbox outlived its kernel: a dead kernel would not be noticed"
    assert "the kernel exited with status 3" in tail


def test_privileges_left_names_each_one():
    clean = ("Uid:\t61000\t61000\t61000\t61000\nGid:\t61000\t61000\t61000\t61000\nGroups:\t\nNoNewPrivs:\t1\n"
             + "".join(f"{k}:\t0000000000000000\n" for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")))
    assert forkserver.privileges_left(61000, clean) == []
    dirty = clean.replace("Groups:\t\n", "Groups:\t0\n").replace("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff")
    problems = forkserver.privileges_left(61000, dirty)
    assert len(problems) == 2 and any(p.startswith("Groups") for p in problems) and any("CapBnd" in p for p in problems)
    assert forkserver.privileges_left(0, clean)  # the wrong uid


def test_kernels_start_as_new_interpreters_when_the_template_cannot(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(sandbox, "_templates", {})
    monkeypatch.setattr(forkserver.ForkServer, "start", lambda self, timeout=120: bool(
        setattr(self, "error", "refused for the test")))
    with caplog.at_level(logging.WARNING):
        text, km = _run(_kernel(tmp_path, "import sys; print('torch' in sys.modules)"))
        again, _ = _run(_kernel(tmp_path, "print('second')"))
    assert text.strip() == "False" and again.strip() == "second"
    warnings = [r.getMessage() for r in caplog.records if "template did not start" in r.getMessage()]
    assert len(warnings) == 1 and "refused for the test" in warnings[0]  # said once, not per kernel


def test_only_ipykernels_own_command_is_forked(tmp_path):
    km = SandboxKernelManager(kernel_name="python3", sandbox=Sandbox())
    try:
        cmd = [os.sys.executable, "-m", "ipykernel_launcher", "-f", km.connection_file]
        env = {"HOME": str(tmp_path)}
        assert km._forkserver(cmd[:3] + ["-f", "/elsewhere.json"], env) is None
        assert km._forkserver(["/usr/bin/python3", *cmd[1:]], env) is None
        assert km._forkserver(["/bin/sh", "-c", "exec " + " ".join(cmd)], env) is None
        km.sandbox.fork_kernels = False
        assert km._forkserver(cmd, env) is None
    finally:
        km.dispose()


def test_limits_of_reads_what_getrlimit_says():
    import resource

    mine = forkserver.limits_of(os.getpid())
    for name, which in forkserver.LIMITS.items():
        assert mine[name] == list(resource.getrlimit(which)), name


def test_a_template_that_stopped_is_replaced(forks, tmp_path, caplog):
    _run(_kernel(tmp_path, "pass"))
    (old,) = [s for s in sandbox._templates.values() if s is not None and s.alive()][:1]
    old.process.kill()
    old.process.wait()
    with caplog.at_level(logging.WARNING):
        text, km = _run(_kernel(tmp_path, "import sys; print('torch' in sys.modules)"))
    assert text.strip() == "True" and km.started_as == "forked"
    assert any("template stopped" in r.getMessage() for r in caplog.records)
    assert all(s is not old for s in sandbox._templates.values())


def test_an_idle_template_is_stopped_and_its_running_kernels_go_on(forks, tmp_path, monkeypatch):
    """formgrader's server would hold a template (and its memory) for good: one unused for
    TEMPLATE_IDLE_S stops; a kernel forked from it before goes on, and the next kernel gets a new one."""
    monkeypatch.setattr(sandbox, "_templates", {})
    monkeypatch.setattr(sandbox, "TEMPLATE_IDLE_S", 1)

    async def run():
        km = SandboxKernelManager(kernel_name="python3", sandbox=Sandbox())
        await km.start_kernel(cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            (server,) = sandbox._templates.values()
            deadline = time.monotonic() + 20
            while server.alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            out = []
            await kc.execute_interactive("print(6 * 7)", timeout=30,
                                         output_hook=lambda m: out.append(m["content"].get("text", "")))
            return server, "".join(out), km.started_as
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    server, out, how = _run(run())
    assert not server.alive() and sandbox._templates == {}, "the idle template was not stopped"
    assert out.strip() == "42" and how == "forked", "a kernel forked before stopped with its template"
    text, km = _run(_kernel(tmp_path, "print('again')"))
    assert text.strip() == "again" and km.started_as == "forked"


def test_a_template_too_large_for_the_memory_limit_is_not_forked_from(tmp_path, monkeypatch, caplog):
    """A fork starts with the template's address space: under a limit that leaves a kernel too
    little beyond it, kernels start as new interpreters (said once), and still work."""
    monkeypatch.setattr(sandbox, "FORK_ROOM", 2**40)
    for server in sandbox._templates.values():
        if server is not None:
            monkeypatch.setattr(server, "too_big_said", False)
    with caplog.at_level(logging.WARNING):
        text, km = _run(_kernel(tmp_path, "print('works')"))
        again, km2 = _run(_kernel(tmp_path, "print('again')"))
    assert (text.strip(), again.strip()) == ("works", "again")
    assert km.started_as == km2.started_as == "new interpreter"
    said = [r.getMessage() for r in caplog.records if "address space leaves" in r.getMessage()]
    assert len(said) == 1, said
