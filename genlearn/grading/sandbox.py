"""The operating-system half of the grading sandbox: one kernel, one locked-down process tree.

Each submission's kernel runs under bubblewrap (``bwrap``, Debian package ``bubblewrap``):

* **files**: a new root holding only ``/usr``, ``/etc``, the Python installation, the
  environment's site-packages and the ``genlearn`` package, all read-only; a private ``/tmp``
  (size-limited tmpfs); and a scratch copy of the submission's folder, the only place it can
  write. ``solutions/``, the gradebook, other submissions and home folders are not there at all;
* **identity**: as root, an unprivileged uid that owns nothing on the machine (one per
  concurrent kernel, leased with a lock file), set with ``setpriv`` and no new privileges;
  otherwise a user namespace of the calling user;
* **network**: a network namespace of its own: no interface but its own loopback, so nothing
  outside (the host's loopback included) can be reached. The kernel talks to nbgrader over
  Unix sockets (``transport = "ipc"``) in a folder both sides see;
* **limits**: ``prlimit`` caps address space (memory), CPU seconds, processes and file size;
* **processes**: a PID namespace: when the kernel ends or is killed, every process it
  started dies with it (``--die-with-parent`` covers nbgrader itself being killed).
* **start**: the process bubblewrap runs is a placeholder, and the kernel is forked into the
  sandbox from a template that has imported torch already (:mod:`genlearn.grading.forkserver`:
  the same namespaces, root, limits and identity, checked); for a kernel command other than
  ipykernel's, or with ``c.Sandbox.fork_kernels = False``, bubblewrap runs the command itself.

:class:`Sandbox` holds the settings (``c.Sandbox.*`` in ``nbgrader_config.py``);
:class:`SandboxKernelManager` is a jupyter_client kernel manager that launches the kernel
inside it. Nothing here runs student code: :mod:`genlearn.grading.execute` drives it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import pwd
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from .forkserver import KERNEL_MODULE, PLACEHOLDER, ForkServer, limits_of, placeholder_of, tail

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*$")
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
ALLOW_SETTING = "c.Sandbox.allow_unsandboxed = True"


class SandboxUnavailable(RuntimeError):
    """No sandbox can be set up on this machine; the message is one line that says why."""


def parse_size(text: str | int, name: str = "size") -> int:
    """``"2G"`` -> 2147483648 bytes (k/M/G/T are powers of 1024); plain integers are bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise ValueError(f"{name}: expected a size such as 512M or 2G, got {text!r}")
        value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"{name}: expected a positive size, got {text!r}")
    return value


class Sandbox(LoggingConfigurable):
    """Settings of the autograding sandbox (``c.Sandbox.<name>`` in nbgrader_config.py)."""

    allow_unsandboxed = Bool(False, help=(
        "Grade without a sandbox when none can be set up. Student code then runs with the "
        "instructor's rights: use only on a machine you trust and for code you trust.")).tag(config=True)
    memory_limit = Unicode("2G", help="Address-space limit of the kernel and each process it starts.").tag(config=True)
    cpu_seconds = Int(900, help="CPU seconds one notebook may use in all (each process).").tag(config=True)
    max_processes = Int(128, help="Processes and threads the sandbox's identity may have at once.").tag(config=True)
    max_file_size = Unicode("64M", help="Largest file the kernel may write.").tag(config=True)
    tmp_size = Unicode("256M", help="Size of the sandbox's private /tmp (memory-backed).").tag(config=True)
    uid_base = Int(61000, help="As root: first of the uids leased to sandboxes (none may belong to a user).").tag(config=True)
    uid_count = Int(1000, help="As root: how many uids from uid_base may be leased.").tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable.").tag(config=True)
    max_copy_file = Unicode("64M", help="Largest file of a submission copied into its sandbox (larger ones are refused and reported).").tag(config=True)
    max_copy_total = Unicode("256M", help="Bytes of a submission's files copied into its sandbox in all.").tag(config=True)
    fork_kernels = Bool(True, help=(
        "Fork each kernel into its sandbox from a template that has imported ipykernel, torch and "
        "genlearn already (genlearn.grading.forkserver), instead of starting a new interpreter in "
        "it: the sandbox is the same; the imports are paid once per grader.")).tag(config=True)
    read_only_paths = List(Unicode(), help=(
        "Extra folders the notebooks need to read (data shipped beside the course), mounted "
        "read-only at the same path.")).tag(config=True)

    def limits(self) -> dict[str, int]:
        """prlimit's options (``--as=BYTES`` ...): address space, CPU seconds, processes, file size."""
        return {"as": parse_size(self.memory_limit, "Sandbox.memory_limit"),
                **dict(cpu=int(self.cpu_seconds), nproc=int(self.max_processes)),
                "fsize": parse_size(self.max_file_size, "Sandbox.max_file_size"), "core": 0}

    # ------------------------------------------------------------------ availability

    def unavailable_reason(self) -> str | None:
        """None when a sandbox can be set up here, else one line saying why not."""
        return _probe(self.bwrap, os.geteuid() == 0)

    def check(self) -> bool:
        """True when grading is sandboxed; False when allowed to go without; raises otherwise."""
        reason = self.unavailable_reason()
        if reason is None:
            return True
        if self.allow_unsandboxed:
            self.log.warning("genlearn sandbox: %s; grading WITHOUT a sandbox because %s", reason, ALLOW_SETTING)
            return False
        raise SandboxUnavailable(
            f"refusing to autograde: no sandbox ({reason}); on a trusted machine only, set "
            f"{ALLOW_SETTING} in nbgrader_config.py")

    # ------------------------------------------------------------------ the command

    def command(self, kernel_cmd: list[str], *, workdir: str, scratch: str, ipc_dir: str,
                uid: int | None, env: dict[str, str], binds: list[tuple[str, bool]] = ()) -> list[str]:
        """``bwrap ... prlimit ... [setpriv ...] kernel_cmd``: the kernel, inside the sandbox,
        with ``scratch`` mounted (writable) at ``workdir``, ``ipc_dir`` at its own path, and each
        ``(folder, writable)`` of ``binds`` at its own path (the grading bridge's folder)."""
        limits = self.limits()
        args = [shutil.which(self.bwrap) or self.bwrap,
                "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grader"]
        if uid is None:  # not root: a user namespace maps the caller's own uid
            args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        made: set[str] = set()

        def parents(dest: str) -> None:
            for parent in reversed(Path(dest).parents):
                p = str(parent)
                if p != "/" and p not in made and p not in ("/usr", "/etc", "/tmp", "/proc", "/dev"):
                    made.add(p)
                    args.extend(["--perms", "0755", "--dir", p])

        args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
                 "--proc", "/proc", "--dev", "/dev",
                 # POSIX semaphores and shared memory (joblib, multiprocessing, torch) live here
                 "--size", str(min(parse_size(self.tmp_size), 64 * 2**20)), "--perms", "1777", "--tmpfs", "/dev/shm",
                 "--size", str(parse_size(self.tmp_size, "Sandbox.tmp_size")), "--perms", "1777", "--tmpfs", "/tmp"]
        for link in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
            host = Path("/") / link
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                args += ["--ro-bind", str(host), str(host)]
        for path in _python_paths() + [os.path.realpath(p) for p in self.read_only_paths]:
            if path.startswith(("/usr/", "/etc/")) or path in ("/usr", "/etc"):
                continue
            parents(path)
            args += ["--ro-bind", path, path]
        for source, dest in ((ipc_dir, ipc_dir), (scratch, workdir)):
            parents(dest)
            args += ["--bind", source, dest]
        for folder, writable in binds:
            parents(folder)
            args += ["--bind" if writable else "--ro-bind", folder, folder]
        args += ["--chdir", workdir, "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        if uid is None:  # the caller's own uid counts their other processes too: allow for them
            limits["nproc"] += _tasks_of(os.getuid())
        args += [shutil.which("prlimit") or "prlimit"] + [f"--{k}={v}" for k, v in limits.items()] + ["--"]
        if uid is not None:
            args += [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                     "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
        return args + list(kernel_cmd)


def _package_dir() -> str:
    import genlearn

    return str(Path(genlearn.__file__).resolve().parent)


@lru_cache(maxsize=None)
def _python_paths() -> list[str]:
    """What the kernel needs to import Python, its packages and genlearn (and nothing else
    of the folder genlearn sits in: an editable install lives beside solutions/)."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.realpath(os.path.dirname(os.path.realpath(sys.executable)))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(os.path.realpath(value))
    paths.add(_package_dir())
    kept: list[str] = []
    for p in sorted(p for p in paths if os.path.isdir(p)):  # drop paths inside another kept path
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return kept


@lru_cache(maxsize=None)
def _probe(bwrap: str, as_root: bool) -> str | None:
    exe = shutil.which(bwrap)
    if exe is None:
        return f"'{bwrap}' is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    for tool in ("prlimit", "setpriv") if as_root else ("prlimit",):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (util-linux)"
    probe = [exe, "--die-with-parent", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/",
             "--proc", "/proc", "--dev", "/dev"]
    if not as_root:
        probe.append("--unshare-user")
    try:
        proc = subprocess.run(probe + ["true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not start: {err}"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        hint = "" if as_root else " (user namespaces may be disabled: kernel.unprivileged_userns_clone)"
        return f"bwrap cannot create namespaces here: {why}{hint}"
    return None


# ----------------------------------------------------------------------------- uids


class UidLease:
    """An unused uid held for one kernel's life, so that concurrent sandboxes never share one
    (the process limit counts per uid: one submission's fork storm must not starve another)."""

    LOCK_DIR = Path(tempfile.gettempdir()) / "genlearn-sandbox-uids"

    def __init__(self, base: int, count: int):
        self.uid: int | None = None
        self._fd: int | None = None
        self.LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        start = os.getpid() % count
        for i in range(count):
            uid = base + (start + i) % count
            try:
                pwd.getpwuid(uid)
                continue  # belongs to someone: never borrow a real account's uid
            except KeyError:
                pass
            fd = os.open(self.LOCK_DIR / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxUnavailable(f"no free sandbox uid in {base}..{base + count - 1} (c.Sandbox.uid_base/uid_count)")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _tasks_of(uid: int) -> int:
    """Processes and threads that ``uid`` runs now (what RLIMIT_NPROC counts)."""
    n = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                n += len(os.listdir(entry / "task"))
        except OSError:
            pass
    return n


def _kill_uid(uid: int) -> None:
    """Belt and braces: the PID namespace already ended everything; make sure of it."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), 9)
            except OSError:
                pass


# ----------------------------------------------------------------------------- kernel manager


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel inside :class:`Sandbox`; talks to it over Unix sockets.

    The kernel's working folder is a scratch copy of the submission's folder, mounted at the
    same path: relative paths work, and nothing the kernel writes reaches the real folder.
    """

    def __init__(self, *args, sandbox: Sandbox, binds: list[tuple[str, bool]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.sandbox = sandbox
        self.binds = list(binds)           # (folder, writable): the grading bridge's folder
        self.refused: list[str] = []       # files of the submission not copied in, and why
        self.as_root = os.geteuid() == 0
        self.base_dir = tempfile.mkdtemp(prefix="glsbx-")  # short: Unix socket paths max 107 bytes
        os.chmod(self.base_dir, 0o711)
        self.ipc_dir = os.path.join(self.base_dir, "ipc")
        os.mkdir(self.ipc_dir, 0o700)
        self.transport = "ipc"
        self.connection_file = os.path.join(self.ipc_dir, "kernel.json")
        self.ip = os.path.join(self.ipc_dir, "k")
        self.lease = UidLease(sandbox.uid_base, sandbox.uid_count) if self.as_root else None
        self.uid = self.lease.uid if self.lease else None
        self.workdir: str | None = None
        self.stderr_path = os.path.join(self.base_dir, "kernel-stderr.log")
        self._stderr = None
        self._joined = None  # the forked kernel's line to its parent (forkserver.Joined)
        self.started_as = "new interpreter"  # or "forked" from the template (genlearn.grading.forkserver)

    def give(self, path: str) -> None:
        """Make ``path`` (in the ipc folder) the sandbox identity's."""
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        real = os.path.realpath(kw.get("cwd") or os.getcwd())
        scratch = os.path.join(self.base_dir, "work")
        self.refused = copy_regular_files(real, scratch, parse_size(self.sandbox.max_copy_file, "Sandbox.max_copy_file"),
                                          parse_size(self.sandbox.max_copy_total, "Sandbox.max_copy_total"))
        self.workdir = real
        if self.uid is not None:
            for root, dirs, files in os.walk(scratch):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.lchown(name, self.uid, self.uid)
            for name in (self.ipc_dir, self.connection_file):
                self.give(name)
        env = _kernel_env(kw.get("env") or os.environ, real)
        server = self._forkserver(kernel_cmd, env)
        ready = os.path.join(self.ipc_dir, "ready")
        inside = PLACEHOLDER + [ready] if server else kernel_cmd
        cmd = self.sandbox.command(inside, workdir=real, scratch=scratch, ipc_dir=self.ipc_dir,
                                   uid=self.uid, env=env, binds=self.binds)
        self._stderr = open(self.stderr_path, "wb")
        kw.update(cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                  stdout=subprocess.DEVNULL, stderr=self._stderr)
        self.log.debug("sandboxed kernel: %s", " ".join(cmd))
        await super()._async_launch_kernel(cmd, **kw)
        if server:
            await self._fork_into_sandbox(server, kernel_cmd, env, ready, real)

    def _forkserver(self, kernel_cmd: list[str], env: dict[str, str]):
        """The grader's template (:mod:`genlearn.grading.forkserver`) when this kernel can be
        forked from it: as root, for ipykernel's command (with any options of its own, such as
        nbgrader's ``--HistoryManager.hist_file=:memory:``)."""
        if not (self.sandbox.fork_kernels
                and kernel_cmd[:5] == [sys.executable, "-m", KERNEL_MODULE, "-f", self.connection_file]):
            return None
        server = _template_for(env, self.log)
        if server is None:
            return None
        # A fork starts with the template's address space (torch mapped: about 1 GB with the CPU
        # build, several with a CUDA build); the kernel needs room beyond it under the sandbox's limit.
        room = self.sandbox.limits()["as"] - server.address_space()
        if room < FORK_ROOM:
            if not server.too_big_said:
                server.too_big_said = True
                self.log.warning("genlearn sandbox: kernels start as new interpreters: the kernel template's "
                                 "address space leaves %d MB of the %s memory limit (under %d MB)",
                                 room // 2**20, self.sandbox.memory_limit, FORK_ROOM // 2**20)
            return None
        return server

    async def _fork_into_sandbox(self, server, kernel_cmd: list[str], env: dict[str, str], ready: str,
                                 workdir: str) -> None:
        import asyncio

        outer = self.provisioner.process.pid
        deadline, placeholder = time.monotonic() + 30, None
        while placeholder is None:
            if self.provisioner.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"genlearn: the kernel's sandbox did not start: {self.stderr_tail()}")
            if os.path.exists(ready):
                placeholder = placeholder_of(outer, os.getuid() if self.uid is None else self.uid)
            if placeholder is None:
                await asyncio.sleep(0.005)
        # the limits prlimit gave the placeholder, which is one more of the uid's processes
        limits = limits_of(placeholder)
        limits["RLIMIT_NPROC"] = [n if n == resource.RLIM_INFINITY else n + 1 for n in limits["RLIMIT_NPROC"]]
        request = {"uid": self.uid, "limits": limits, "umask": _umask(), "env": env,
                   "args": kernel_cmd[3:], "cwd": workdir}
        join = lambda server: server.join(placeholder, stderr_path=self.stderr_path,  # noqa: E731
                                          request=request, user_ns=self.uid is None)
        loop = asyncio.get_running_loop()
        # bubblewrap is this process's own child, not yet reaped: its pid is not another's
        outer_fd = os.pidfd_open(outer)
        try:
            try:
                self._joined = await loop.run_in_executor(None, join, server)
            except (ConnectionRefusedError, FileNotFoundError):  # the template ended: a new one, once
                server = _template_for(env, self.log)
                if server is None:
                    raise
                self._joined = await loop.run_in_executor(None, join, server)
        except BaseException:
            os.close(outer_fd)
            raise
        self.started_as = "forked"
        self._joined.watch(outer_fd)  # when the kernel ends, so does its sandbox (what jupyter_client watches)

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt by message: a signal to bwrap would not reach the kernel inside."""
        if self.has_kernel:
            msg = self.session.msg("interrupt_request", content={})
            self._connect_control_socket()
            self.session.send(self._control_socket, msg)

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the base class's at import

    def stderr_tail(self, n: int = 2000) -> str:
        return tail(self.stderr_path, n)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self.dispose()

    cleanup_resources = _async_cleanup_resources

    def dispose(self) -> None:
        """Remove the scratch and socket folders and give the uid back (idempotent)."""
        # Only while the lease is held: once given back, the uid may be another kernel's (this
        # grader's next submission, or a grader beside it), and a second dispose must not kill it.
        if self.lease is not None and self.uid is not None:
            _kill_uid(self.uid)
        if self._joined is not None:
            self._joined.close()
            self._joined = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        shutil.rmtree(self.base_dir, ignore_errors=True)
        if self.lease is not None:
            self.lease.release()
            self.lease = None


def copy_regular_files(source: str, dest: str, max_file: int, max_total: int,
                       ignore: tuple[str, ...] = (".ipynb_checkpoints",), skip: tuple[str, ...] = ()) -> list[str]:
    """Copy the regular files under ``source`` into ``dest`` (created), and nothing else: links,
    devices, FIFOs and sockets are refused, and so are files over ``max_file`` bytes or past
    ``max_total`` in all (a sparse file counts its full size). Files are opened without following
    links and checked again once open, so a file swapped for a link meanwhile is refused too.
    Names matching ``ignore`` (files and folders) or ``skip`` (files) are passed over silently.
    Returns one line per refused entry: its path relative to ``source`` and why."""
    from fnmatch import fnmatch

    refused, total = [], 0
    os.makedirs(dest, mode=0o755, exist_ok=True)
    for root, dirs, files in os.walk(source):
        rel_root = os.path.relpath(root, source)
        for name in sorted(dirs):
            path = os.path.join(root, name)
            rel = os.path.normpath(os.path.join(rel_root, name))
            if any(fnmatch(name, pattern) for pattern in ignore):
                dirs.remove(name)
            elif os.path.islink(path):
                dirs.remove(name)
                refused.append(f"{rel}: a link (not copied)")
            else:
                os.makedirs(os.path.join(dest, rel), mode=0o755, exist_ok=True)
        for name in sorted(files):
            if any(fnmatch(name, pattern) for pattern in ignore + skip):
                continue
            rel = os.path.normpath(os.path.join(rel_root, name))
            why = _copy_one(os.path.join(root, name), os.path.join(dest, rel), max_file, max_total - total)
            if isinstance(why, str):
                refused.append(f"{rel}: {why}")
            else:
                total += why
    return refused


def _copy_one(path: str, target: str, max_file: int, room: int) -> int | str:
    """The bytes copied, or why not."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        return "a link (not copied)" if os.path.islink(path) else f"unreadable ({err.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file (not copied)"
        if info.st_size > max_file:
            return f"{info.st_size:,} bytes, over the {max_file:,}-byte limit per file (not copied)"
        if info.st_size > room:
            return "over the limit on a submission's files in all (not copied)"
        with os.fdopen(os.dup(fd), "rb") as src, open(target, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return info.st_size
    finally:
        os.close(fd)


def _kernel_env(outer: dict, workdir: str) -> dict[str, str]:
    """A clean environment: nothing of the instructor's (tokens, paths) reaches student code."""
    python_bin = os.path.dirname(sys.executable)
    env = {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir, "TMPDIR": "/tmp", "LANG": outer.get("LANG", "C.UTF-8"),
        "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter/runtime",
        "JUPYTER_PLATFORM_DIRS": "1", "GENLEARN_CACHE": "/tmp/genlearn-cache",
        "MALLOC_ARENA_MAX": "2",  # per-thread malloc arenas would eat the address-space limit
        "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    for key in ("GENLEARN_DEVICE", "GENLEARN_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                "NBGRADER_EXECUTION", "PYTHONHASHSEED"):
        if key in outer:
            env[key] = outer[key]
    # The kernel imports the genlearn the grader runs (from a copy of the course, say), not one that
    # an editable install elsewhere points to: its folder holds only the package in the sandbox.
    env["PYTHONPATH"] = os.path.dirname(_package_dir())
    return env


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_templates: dict[str, ForkServer | None] = {}
_templates_lock = threading.Lock()
FORK_ROOM = 256 * 2**20  # address space a forked kernel needs beyond its template's
TEMPLATE_IDLE_S = 300  # a template unused this long is stopped (formgrader's server would hold it for good)


def _template_for(env: dict[str, str], log) -> ForkServer | None:
    """This process's template for kernels with ``env`` (but their HOME), started on first use
    and stopped after :data:`TEMPLATE_IDLE_S` unused; None when it cannot be started (said once;
    kernels then start as new interpreters)."""
    key = json.dumps({k: v for k, v in sorted(env.items()) if k != "HOME"})
    with _templates_lock:
        server = _templates.get(key)
        if key in _templates and (server is None or server.alive()):
            return _used(key, server)
        if server is not None:
            log.warning("genlearn sandbox: the kernel template stopped (%s); starting a new one",
                        server.process.returncode if server.process else "?")
            server.stop()
        server = ForkServer({**env, "HOME": "/nonexistent"})
        if server.start():
            atexit.register(server.stop)
        else:
            log.warning("genlearn sandbox: kernels start as new interpreters: the kernel template did not "
                        "start: %s", server.error)
            server = None
        _templates[key] = server
        return _used(key, server)


def _used(key: str, server: ForkServer | None) -> ForkServer | None:
    """Mark ``server`` used now (with the lock held), and stop it once it has been idle for long."""
    if server is not None:
        server.last_used = time.monotonic()
        if server.retire is not None:
            server.retire.cancel()
        server.retire = threading.Timer(TEMPLATE_IDLE_S + 1, _retire, (key, server))
        server.retire.daemon = True
        server.retire.start()
    return server


def _retire(key: str, server: ForkServer) -> None:
    with _templates_lock:  # a kernel asking for it meanwhile has moved last_used on
        if _templates.get(key) is server and time.monotonic() - server.last_used >= TEMPLATE_IDLE_S:
            del _templates[key]
            server.stop()
