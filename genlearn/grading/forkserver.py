"""Sandboxed kernels forked from one that has imported torch already: the imports paid once
per grader, not twice per submission.

Every kernel that grades a submission still gets a sandbox of its own, built by bubblewrap
exactly as before (:meth:`genlearn.grading.sandbox.Sandbox.command`): its own mount, PID,
network, IPC and UTS namespaces, its own leased uid (as root) or user namespace (as a user),
its limits. What changes is the process that runs inside it. Instead of a new interpreter
that imports ipykernel, torch, numpy and genlearn (about 2 CPU-seconds on the course machine,
for each of a submission's two kernels), bubblewrap runs a placeholder (``sleep``), and a
**template** forks the kernel into that sandbox:

1. The template is a process of the grader's, started on first use with the kernels' clean
   environment (:func:`genlearn.grading.sandbox._kernel_env`). It imports the modules every
   kernel imports (:data:`PRELOAD`), then waits. It never reads anything a student wrote, and
   never reads a request either: it **forks first**; only the fork reads one request, from the
   grader, over a socket in a folder only the grader's user can enter.
2. The fork joins the placeholder's namespaces (``setns``, as ``nsenter`` does; as a user, its
   user namespaces too) and its root folder, then forks once more, so that the kernel is a
   member of the sandbox's PID namespace.
3. The kernel gives itself the placeholder's limits and identity (:func:`drop_privileges`: no
   capability in any set; as root also no supplementary groups and the leased uid and gid; no
   new privileges), checks all of them from ``/proc/self/status`` and exits rather than go on
   with any left, and only then takes the kernel's environment and starts ipykernel.

Nothing carries from one submission to the next: each kernel is a fresh fork of the template,
which no student code has ever run in, into a sandbox made for it alone. When the kernel ends,
its parent (outside the sandbox) writes how it ended to the kernel's log and hangs up; the grader
then stops the sandbox (:class:`Joined`). When the sandbox is stopped, its PID namespace takes
the kernel with it. The template ends with the grader, or after a while unused (running kernels
go on).

:class:`genlearn.grading.sandbox.SandboxKernelManager` uses it for ipykernel's own command; for
any other, when the template cannot be started, or with ``c.Sandbox.fork_kernels = False``,
kernels start as new interpreters in the same sandbox.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from .guard import DEFAULT_GUARDED_MODULES

# What every grading kernel imports: ipykernel, the guard and the modules it snapshots, the bridge
# (the grader's kernel) and what answers it (the student's). Also what torch and ipykernel import
# only on first use, which nearly every kernel reaches: the first optimizer imports torch._dynamo
# (about 800 modules, sympy among them: 0.8 s), torch.autograd.grad with grad_outputs imports
# symbolic_shapes, ipykernel resolves its debugger's class when the kernel starts. A profile of
# ex03's grading found them 36% of its kernels' CPU time (benchmarks/README.md, "Workers chosen by
# the CPUs, imports on first use").
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel_launcher", "ipykernel.debugger",
           *DEFAULT_GUARDED_MODULES, "torch._dynamo", "torch.fx.experimental.symbolic_shapes",
           "genlearn.grading.guard", "genlearn.grading.serve", "genlearn.grading.bridge")
KERNEL_MODULE = "ipykernel_launcher"
PLACEHOLDER = ["/bin/sh", "-c", ': > "$0" && exec sleep infinity']  # + the ready file's path
CLONE_NEWUSER, NS_GET_PARENT = 0x10000000, 0xB702
NAMESPACES = (("ipc", 0x08000000), ("uts", 0x04000000), ("net", 0x40000000),
              ("cgroup", 0x02000000), ("pid", 0x20000000), ("mnt", 0x00020000))  # the mount namespace last
MUST_DIFFER = ("ipc", "uts", "net", "pid", "mnt")  # from the grader's: the sandbox's own
LIMIT_NAMES = {"RLIMIT_AS": "Max address space", "RLIMIT_CPU": "Max cpu time", "RLIMIT_NPROC": "Max processes",
               "RLIMIT_FSIZE": "Max file size", "RLIMIT_CORE": "Max core file size"}  # as /proc/PID/limits names them
LIMITS = {name: getattr(resource, name) for name in LIMIT_NAMES}  # what prlimit sets (Sandbox.limits)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4

_libc = ctypes.CDLL(None, use_errno=True)
PER_USER_ENV = ("TORCHINDUCTOR_CACHE_DIR",)
_SET_BY_IMPORTS: dict[str, str | None] = {}  # the template's: what PRELOAD's imports set in os.environ (None: removed)


def _call(name: str, *args: int) -> None:
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args}: {os.strerror(err)}")


def _prctl(*args: int) -> None:
    _call("prctl", *(list(args) + [0] * (5 - len(args))))


# ----------------------------------------------------------------------------- the template


def main(argv: list[str] | None = None) -> None:
    """``python -c 'from genlearn.grading.forkserver import main; main()' SOCKET``."""
    (path,) = (argv if argv is not None else sys.argv[1:])
    # numpy's OpenBLAS starts its thread pool at import and stops it around every fork
    # (pthread_atfork), as multiprocessing's forks rely on; no other module may start a thread: a
    # fork of a threaded process may inherit a lock held by a thread that is not there.
    importlib.import_module("numpy")
    allowed = _threads()
    before = dict(os.environ)
    for name in PRELOAD:
        importlib.import_module(name)
    # What the imports wrote into the environment (pydevd, imported with ipykernel's debugger,
    # sets PYDEVD_USE_FRAME_EVAL): a kernel that imported them itself would have it too. Not what
    # depends on the user (torch._dynamo sets TORCHINDUCTOR_CACHE_DIR to /tmp/torchinductor_<user>):
    # the template's user is not the kernel's, and torch sets the kernel's own when it needs it.
    _SET_BY_IMPORTS.update({k: os.environ.get(k) for k in before.keys() | os.environ.keys()
                            if before.get(k) != os.environ.get(k) and k not in PER_USER_ENV})
    if _threads() > allowed:
        sys.exit(f"genlearn forkserver: {_threads() - allowed} thread(s) started by the imports; forking would be unsafe")
    gc.collect()
    gc.freeze()  # what every fork shares: not touched by the collector, so not copied
    base_path = sys.path[1:]  # sys.path[0] is the kernel's own folder
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the system
    print("ready", flush=True)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    import select

    while True:
        # The grader holds the other end of stdin: when it ends, however it ends, so does the template.
        # (Not PR_SET_PDEATHSIG: that follows the thread that started the template, not the grader.)
        ready, _, _ = select.select([listener, 0], [], [])
        if 0 in ready and not os.read(0, 1):
            return
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        if os.fork() == 0:  # fork before reading anything: the template stays as it was
            code = 70
            try:
                listener.close()
                os.close(0)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                code = _start_kernel(conn, base_path, last_cap)
            except BaseException:  # noqa: BLE001 - nothing may return into the template's loop
                traceback.print_exc()
            finally:
                os._exit(code)
        conn.close()


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _start_kernel(conn: socket.socket, base_path: list[str], last_cap: int) -> int:
    """In the fork: one request, one kernel in the sandbox it names; returns once the kernel ended.
    (It outlives the template, if need be: a template stopped while idle leaves running kernels be;
    when the grader ends, bubblewrap ends each sandbox, the kernel with it, and then this.)"""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 16)
    request = json.loads(data)
    fd = dict(zip(request["fds"], fds))
    log = fd.pop("stderr")
    try:
        # Run as a user, the sandbox has user namespaces ("user:0" outermost): its other
        # namespaces belong to the outermost, entered first; bubblewrap's --disable-userns
        # nests another, entered last (entering it gives up the rights in the outer one).
        users = sorted((k for k in fd if k.startswith("user:")), key=lambda k: int(k[5:]))
        if users:
            _call("setns", fd[users[0]], CLONE_NEWUSER)
        for name, flag in NAMESPACES:
            _call("setns", fd[name], flag)
        for name in users[1:]:
            _call("setns", fd[name], CLONE_NEWUSER)
        os.fchdir(fd["root"])
        os.chroot(".")
        os.chdir(request["cwd"])
    except BaseException:
        os.write(log, f"genlearn forkserver: could not enter the sandbox:\n{traceback.format_exc()}".encode())
        raise
    for value in fd.values():
        os.close(value)
    pid = os.fork()  # the PID namespace takes children only
    if pid == 0:
        code = 71
        try:
            conn.close()
            code = _run_kernel(request, log, base_path, last_cap)
        except BaseException:  # noqa: BLE001 - on stderr: the kernel's log once _run_kernel moved it there
            sys.stderr.write(f"genlearn forkserver: the kernel did not start:\n{traceback.format_exc()}")
            sys.stderr.flush()
        finally:
            os._exit(code)
    conn.sendall(b"started\n")
    _, status = os.waitpid(pid, 0)
    os.write(log, f"\n[genlearn sandbox] the kernel {_ended(status)}\n".encode())
    return 0


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        why = {signal.SIGXCPU: " (CPU time limit exceeded)", signal.SIGXFSZ: " (File size limit exceeded)"}
        return f"was killed by {signal.Signals(sig).name}{why.get(sig, '')}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def _run_kernel(request: dict, log: int, base_path: list[str], last_cap: int) -> int:
    """In the sandbox: become the kernel. Returns its exit status."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    os.closerange(3, _max_fd())  # nothing of the grader's or the template's: only what the kernel opens
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    drop_privileges(request["uid"], request["limits"], request["umask"], last_cap)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after: a change of identity clears it
    os.environ.clear()
    os.environ.update(request["env"])
    for key, value in _SET_BY_IMPORTS.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    os.environ.setdefault("PWD", os.getcwd())  # as bubblewrap's --chdir sets it
    sys.path[:] = [os.getcwd(), *base_path]
    sys.argv = [sys.modules[KERNEL_MODULE].__file__, *request["args"]]
    import runpy

    code: int = 0
    try:
        runpy.run_module(KERNEL_MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback on stderr
        traceback.print_exc()
        code = 1
    finally:
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    return code


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


def _capset_none() -> None:
    """Empty the effective, permitted and inheritable sets (capset(2), version 3)."""
    header, data = _CapHeader(0x20080522, 0), (ctypes.c_uint32 * 6)()
    if _libc.capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def _max_fd() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 20 else 1 << 16


def drop_privileges(uid: int | None, limits: dict[str, list[int]], umask: int, last_cap: int) -> None:
    """What ``prlimit`` and ``setpriv --reuid --regid --clear-groups --no-new-privs --inh-caps=-all
    --bounding-set=-all`` give a command as root (``uid``), or bubblewrap's ``--cap-drop ALL`` in
    its user namespace (``uid=None``: the grader's own uid), done in this process; then checked,
    from ``/proc/self/status``: any capability, group or id left over raises (never go on as root)."""
    for name, (soft, hard) in limits.items():
        resource.setrlimit(LIMITS[name], (soft, hard))
    os.umask(umask)
    for cap in range(last_cap + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root to another uid: the permitted and effective sets empty
    _capset_none()
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_DUMPABLE, 1)  # as after an exec: the kernel may read its own /proc entries
    problems = privileges_left(os.getuid() if uid is None else uid, groups=uid is not None)
    if problems:
        raise PermissionError("genlearn forkserver: privileges left after dropping them: " + "; ".join(problems))


def privileges_left(uid: int, status: str | None = None, groups: bool = True) -> list[str]:
    """What ``/proc/self/status`` shows beyond ``uid`` with no capabilities (and, with ``groups``,
    gid ``uid`` and no supplementary groups): [] when nothing."""
    fields = dict(line.split(":", 1) for line in (status or open("/proc/self/status").read()).splitlines()
                  if ":" in line)
    want = {"Uid": " ".join([str(uid)] * 4), "NoNewPrivs": "1",
            **{k: "0" * 16 for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}}
    if groups:
        want.update({"Gid": " ".join([str(uid)] * 4), "Groups": ""})
    return [f"{k}: {fields.get(k, '?').split()!r}, expected {v.split()!r}"
            for k, v in want.items() if fields.get(k, "?").split() != v.split()]


# ----------------------------------------------------------------------------- the grader's side


class ForkServer:
    """The grader's handle on its template (one per grading process, started on first use)."""

    def __init__(self, env: dict[str, str]):
        self.env = dict(env)
        self.folder = tempfile.mkdtemp(prefix="glfs-")  # 0700: only the grader's user may connect
        self.path = os.path.join(self.folder, "s")
        self.log_path = os.path.join(self.folder, "log")
        self.process: subprocess.Popen | None = None
        self.error: str | None = None
        self.last_used = 0.0  # time.monotonic() when a kernel last asked for it
        self.too_big_said = False  # warned that its address space leaves a kernel too little room
        self.retire: threading.Timer | None = None  # stops it once idle for long (genlearn.grading.sandbox)

    def start(self, timeout: float = 120) -> bool:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from genlearn.grading.forkserver import main; main()", self.path],
                env=self.env, cwd="/", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                close_fds=True)  # stdin: never written; closed when this process ends, and the template ends
        ready = _read_line(self.process.stdout, timeout)
        self.process.stdout.close()
        if ready != b"ready\n":
            self.stop()
            self.error = tail(self.log_path).strip() or "it did not answer"
            return False
        return True

    def address_space(self) -> int:
        """The template's virtual memory (VmSize) in bytes: where every fork of it starts."""
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
        return 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def join(self, placeholder: int, *, stderr_path: str, request: dict, user_ns: bool,
             timeout: float = 30) -> "Joined":
        """Fork a kernel into the sandbox of process ``placeholder`` (the grader's process sees it
        by its outer pid), whose user namespace is its own with ``user_ns`` (run as a user);
        ``request``: uid (None with ``user_ns``), limits, umask, env, args, cwd."""
        fds, names = [], []
        pidfd = os.pidfd_open(placeholder)
        try:
            if user_ns:
                for depth, ns in enumerate(_user_namespaces(placeholder)):
                    fds.append(ns)
                    names.append(f"user:{depth}")
            for name, _ in NAMESPACES:
                fds.append(os.open(f"/proc/{placeholder}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
                names.append(name)
                if name in MUST_DIFFER and os.fstat(fds[-1]).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                    raise RuntimeError(f"process {placeholder} shares the grader's {name} namespace: not a sandbox")
            fds.append(os.open(f"/proc/{placeholder}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            names.append("root")
            fds.append(os.open(stderr_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC))
            names.append("stderr")
            signal.pidfd_send_signal(pidfd, 0)  # still the same process: every fd above is its own
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(timeout)
            try:
                conn.connect(self.path)
                socket.send_fds(conn, [json.dumps({**request, "fds": names}).encode()], fds)
                answer = conn.recv(64)
            except BaseException:
                conn.close()
                raise
            if answer != b"started\n":
                conn.close()
                raise RuntimeError("the forkserver did not start the kernel: " + (tail(stderr_path).strip() or "no answer"))
            conn.settimeout(None)
            return Joined(conn)
        finally:
            os.close(pidfd)
            for value in fds:
                os.close(value)

    def stop(self) -> None:
        if self.retire is not None:
            self.retire.cancel()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


class Joined:
    """A kernel forked into a sandbox, seen from the grader: its parent's socket."""

    def __init__(self, conn: socket.socket):
        self.conn = conn

    def watch(self, sandbox_pidfd: int) -> None:
        """When the kernel ends (its parent hangs up), kill the sandbox: bubblewrap's process, by a
        pidfd this takes over (a pid could be another process's by then; a pidfd cannot)."""
        def run():
            try:
                while self.conn.recv(4096):
                    pass
            except OSError:
                pass
            try:
                signal.pidfd_send_signal(sandbox_pidfd, signal.SIGKILL)
            except OSError:
                pass  # ended already
            finally:
                os.close(sandbox_pidfd)

        threading.Thread(target=run, name="genlearn-kernel-watch", daemon=True).start()

    def close(self) -> None:
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def _read_line(stream, timeout: float) -> bytes:
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(min(1.0, deadline - time.monotonic())):
                return stream.readline()
    return b""


def tail(path: str, n: int = 2000) -> str:
    """The last ``n`` bytes of a log file, as text ("" when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def placeholder_of(outer: int, uid: int) -> int | None:
    """The outer pid of the sandbox's placeholder: a descendant of bubblewrap's process ``outer``
    that runs ``sleep`` as ``uid`` inside a PID namespace; None if there is none (yet)."""
    todo, seen = [outer], 0
    while todo and seen < 64:
        pid = todo.pop()
        seen += 1
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo.extend(int(c) for c in f.read().split())
            if pid == outer:
                continue
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        if comm == "sleep" and status.get("Uid", "").split()[:1] == [str(uid)] \
                and len(status.get("NSpid", "").split()) == 2:
            return pid
    return None


def limits_of(pid: int) -> dict[str, list[int]]:
    """The limits of :data:`LIMITS` that process ``pid`` has, as ``[soft, hard]``, from
    ``/proc/PID/limits`` (prlimit(2) on another process needs CAP_SYS_RESOURCE, which a
    container's root may lack)."""
    with open(f"/proc/{pid}/limits") as f:
        rows = {line[:26].strip(): line[26:].split()[:2] for line in f.read().splitlines()[1:]}
    value = lambda v: resource.RLIM_INFINITY if v == "unlimited" else int(v)  # noqa: E731
    return {name: [value(v) for v in rows[label]] for name, label in LIMIT_NAMES.items()}


def _user_namespaces(pid: int, most: int = 8) -> list[int]:
    """Descriptors of the user namespaces from the one below this process's down to ``pid``'s,
    outermost first (NS_GET_PARENT); raises when ``pid`` shares this process's."""
    import fcntl

    mine = os.stat("/proc/self/ns/user").st_ino
    chain = [os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)]
    try:
        if os.fstat(chain[0]).st_ino == mine:
            raise RuntimeError(f"process {pid} shares the grader's user namespace: not a sandbox")
        while len(chain) <= most:
            parent = fcntl.ioctl(chain[0], NS_GET_PARENT)
            if os.fstat(parent).st_ino == mine:
                os.close(parent)
                return chain
            chain.insert(0, parent)
        raise RuntimeError(f"process {pid}: more than {most} user namespaces below the grader's")
    except BaseException:
        for fd in chain:
            os.close(fd)
        raise
