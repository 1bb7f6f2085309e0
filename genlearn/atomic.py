"""Files and run folders written completely or not at all, and JSON that strict readers accept.

:func:`atomic_write` writes one file (a checkpoint, a cache) into a temporary file in the same
folder, flushes it to disk and renames it over the target: a crash or a full disk leaves the
old file or the new one, and no temporary file behind.

A run's outputs are written into a temporary folder beside the target
(``.NAME.tmp-PID-xxxx``) and put in place once every file is written, so a crash, a kill or
a full disk leaves either the earlier run or the new one, never a mix of the two:

* the target is **claimed** first (``.NAME.genlearn-lock`` beside it, locked with ``flock`` while the
  run lives; the kernel lets go of it when the process dies, even by ``kill -9``): a second
  run on the same target is refused at once, before it trains;
* the target is checked before any work is done (a file, a folder of other files, an
  unwritable parent, an earlier run without ``force``, too little free space or too few free
  inodes for the run's known size: a one-line :class:`RunFolderError`), and checked again
  at :meth:`RunFolder.commit`;
* an earlier run is replaced only with ``force``, and only after the new one is complete, by
  an atomic exchange of the two folders where the system has one (Linux ``renameat2`` with
  ``RENAME_EXCHANGE``, macOS ``renamex_np`` with ``RENAME_SWAP``): the target is never
  missing. Elsewhere the earlier run is renamed aside (``.NAME.old-PID-xxxx``) and the new
  one renamed in; a kill between the two renames is repaired by the next run;
* Ctrl-C, SIGTERM and SIGHUP are held back while a run is put in place and delivered
  right after (:func:`signals_deferred`), so an interruption never splits a commit: a
  finished run is in place or the earlier one is;
* a commit that fails (the target changed meanwhile, the system refused the rename) keeps
  the finished outputs in a visible folder beside the target (``NAME.unsaved-PID``) and
  says where (:class:`CommitError`);
* leftovers of killed runs anywhere in the target's folder (their claim is free, their pid
  gone, and they hold nothing but run files) are cleaned by the next run there: a temporary
  folder is removed, a run renamed aside goes back where it was if nothing took its place.

:func:`write_json` writes NaN and infinities as ``null`` (``allow_nan=False`` after the
conversion), so no JSON file of genlearn holds ``NaN``, which strict readers reject.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import io
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: claims by exclusive creation and pid (see _lock)
    fcntl = None

RUN_FILES = ("metrics.json", "samples.npy", "samples.png", "model.pt")
"""What ``genlearn train`` writes; a folder holding only these is a run ``force`` may replace."""

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""Ctrl-C, ``kill``/``timeout``/a Jupyter kernel restart, a closed terminal."""


class RunFolderError(ValueError):
    """The target of a run cannot take it (a file, other files, no write access, an earlier
    run, another run writing there, too little space)."""


class CommitError(RuntimeError):
    """A finished run could not be put in place; ``kept`` is the folder holding its outputs."""

    def __init__(self, message: str, kept: Path):
        super().__init__(message)
        self.kept = kept


def finite(value):
    """``value`` with every non-finite float replaced by ``None``, recursively (dicts, lists,
    tuples); what :func:`json.dumps` with ``allow_nan=False`` then accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, value) -> Path:
    """``value`` as indented JSON, non-finite numbers as ``null``; never writes ``NaN``."""
    path = Path(path)
    path.write_text(json.dumps(finite(value), indent=2, allow_nan=False) + "\n")
    return path


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (some, e.g. torch.load's on an empty file, have none)."""
    return str(err).partition("\n")[0][:limit]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """``write(f)`` into a temporary file beside ``path``, then rename it over ``path``.

    Any failure removes the temporary file; a failed write of torch's serializer (it reports a
    full disk as a ``RuntimeError``) is raised as an ``OSError`` like any other failed write."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            except RuntimeError as err:
                raise OSError(f"writing {path} failed: {first_line(err)}") from err
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_torch_save(path: str | os.PathLike, obj) -> Path:
    """``torch.save(obj)`` atomically. Serialized in memory first (the files here are a few
    MB at most), so a full disk is an ``OSError`` with its errno, as for any other file."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getbuffer()))




# ---------------------------------------------------------------- signals and renames

@contextmanager
def signals_deferred(signums=STOP_SIGNALS) -> Iterator[None]:
    """Hold back ``signums`` (Ctrl-C, SIGTERM, SIGHUP) inside the block and deliver them,
    once each, right after it, to the handlers that were there before: a few renames that
    must happen together are never split by an interruption. A signal ignored before stays
    ignored. Only the main thread receives Python's signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for signum in signums:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_IGN, None):  # ignored, or a handler not set from Python
            continue
        previous[signum] = handler
        signal.signal(signum, lambda received, frame: caught.append(received))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


RENAME_EXCHANGE = 2  # linux/fs.h
RENAME_SWAP = 2      # macOS stdio.h
_RENAMEAT2_SYSCALL = {"x86_64": 316, "aarch64": 276, "arm64": 276}


@functools.lru_cache(maxsize=1)
def _exchange_function() -> Callable[[bytes, bytes], int] | None:
    """The C function that swaps two paths atomically, or None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    if sys.platform.startswith("linux"):
        at_fdcwd = -100
        if hasattr(libc, "renameat2"):  # glibc >= 2.28
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            return lambda a, b: fn(at_fdcwd, a, at_fdcwd, b, RENAME_EXCHANGE)
        number = _RENAMEAT2_SYSCALL.get(os.uname().machine)
        if number is None:
            return None
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        return lambda a, b: syscall(ctypes.c_long(number), ctypes.c_int(at_fdcwd), ctypes.c_char_p(a),
                                    ctypes.c_int(at_fdcwd), ctypes.c_char_p(b), ctypes.c_uint(RENAME_EXCHANGE))
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        fn = libc.renamex_np
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return lambda a, b: fn(a, b, RENAME_SWAP)
    return None


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the two existing paths ``a`` and ``b`` in one step (no moment without either).
    Returns False, changing nothing, where the system or the file system cannot."""
    fn = _exchange_function()
    if fn is None:
        return False
    if fn(os.fsencode(a), os.fsencode(b)) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False  # an old kernel, a file system without it, a seccomp filter
    raise OSError(err, os.strerror(err), str(a), None, str(b))


# ---------------------------------------------------------------- claims and leftovers

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's live process; (Windows: no signal 0)
        return True
    return True


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.genlearn-lock"


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0) if hasattr(os, "pread") else b""
    except OSError:
        return None
    return int(text) if text.strip().isdigit() else None


def _lock(path: Path, create: bool) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None while another
    process holds it. Without ``create`` a missing file raises FileNotFoundError."""
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | (os.O_CREAT if create else 0)
    for _ in range(100):
        if fcntl is None:  # no flock: the file's existence is the lock, its pid says if it is stale
            try:
                return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                with open(path, "rb") as f:
                    text = f.read(32).strip()
                if text.isdigit() and _pid_alive(int(text)):
                    return None
                Path(path).unlink(missing_ok=True)
                continue
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as err:
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                os.close(fd)
                raise
            return fd  # a file system without locks (some NFS mounts): no exclusion, commit still checks
        except BaseException:
            os.close(fd)
            raise
        # its holder may have removed the file between our open and our lock: lock the new one
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
        if not create:
            raise FileNotFoundError(errno.ENOENT, "removed", str(path))
    raise OSError(errno.EAGAIN, "the claim file keeps changing", str(path))


def _unlock(path: Path, fd: int) -> None:
    """Remove the claim file (if it is still ours) and let go of it."""
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            os.unlink(path)
    except OSError:
        pass
    os.close(fd)


class Claim:
    """The exclusive right to write a run at ``out`` (``.NAME.genlearn-lock`` beside it, locked),
    held from the start of a run to its end; a second claim anywhere raises RunFolderError."""

    def __init__(self, out: Path, option: str = "--out", wait: float = 0.5):
        self.path = lock_path(out)
        deadline = time.monotonic() + wait  # another run's clean-up may hold it for a moment
        while (fd := _lock(self.path, create=True)) is None:
            if time.monotonic() > deadline:
                holder = _holder(self.path)
                raise RunFolderError(f"{option} {out} is being written by another genlearn run"
                                     f"{f' (pid {holder})' if holder else ''}: wait for it to end, "
                                     f"or choose another folder")
            time.sleep(0.05)
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            _unlock(self.path, fd)


def _holder(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:(?P<what>tmp|old)-(?P<pid>\d+)-.*|genlearn-lock)$")


def _run_debris(folder: Path) -> bool:
    """A folder that holds nothing but what a run writes (files of RUN_FILES, the temporary
    files of their atomic writes): only such a folder is removed as a dead run's."""
    try:
        return folder.is_dir() and not folder.is_symlink() and all(
            p.name in RUN_FILES or (p.name.startswith(tuple(f".{f}." for f in RUN_FILES)) and p.name.endswith(".tmp"))
            for p in folder.iterdir())
    except OSError:
        return False


def clean_stale(out: str | os.PathLike, claimed: bool = False) -> list[Path]:
    """Tidy up after killed runs in ``out``'s folder, whatever their target there: remove
    their temporary folders and put back an earlier run one had moved aside (where nothing
    took its place). A target whose claim another process holds, and folders whose pid is
    alive, are left alone (``claimed``: the caller holds ``out``'s claim). Returns the
    folders removed or restored."""
    out = Path(os.path.abspath(out))
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return []
    by_target: dict[str, list[tuple[Path, str, int]]] = {}
    for entry in entries:
        found = _LEFTOVER.match(entry.name)
        if found:
            what = found["what"] or "lock"
            by_target.setdefault(found["name"], []).append((entry, what, int(found["pid"] or 0)))
    touched = []
    for name, leftovers in by_target.items():
        target = out.parent / name
        held = any(w == "lock" for _, w, _ in leftovers) and not (claimed and name == out.name)
        try:
            fd = _lock(lock_path(target), create=False) if held else -1
        except OSError:  # gone meanwhile, or not ours to open
            continue
        if fd is None:
            continue  # a live run holds it (possibly ours: then its own leftovers stay)
        try:
            for folder, what, pid in leftovers:
                if what == "lock" or _pid_alive(pid) or not _run_debris(folder):
                    continue  # (another program's folder that happens to look like ours stays)
                if what == "old" and (not target.exists() or (target.is_dir() and not any(target.iterdir()))):
                    os.replace(folder, target)  # killed between its two renames: the earlier run goes back
                else:
                    shutil.rmtree(folder, ignore_errors=True)
                touched.append(folder)
        finally:
            if fd >= 0:
                _unlock(lock_path(target), fd)
    return touched


def is_run(folder: Path) -> bool:
    """A folder holding only run outputs (:data:`RUN_FILES`), at least one of them."""
    names = {p.name for p in folder.iterdir()}
    return bool(names) and names <= set(RUN_FILES)


def check_room(folder: Path, need_bytes: int, need_files: int, what: str) -> None:
    """Raise RunFolderError unless ``folder``'s file system has ``need_bytes`` and
    ``need_files`` inodes free (where it says: some report no inode counts)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # (Windows has no statvfs)
        return
    if st.f_flag & getattr(os, "ST_RDONLY", 0):
        return  # nothing can be written there at all: the claim says so, with the system's words
    free = st.f_bavail * st.f_frsize
    if free < need_bytes:
        raise RunFolderError(f"{what}: not enough free space: the run needs about {_mb(need_bytes)}, "
                             f"its disk has {_mb(free)} free")
    if st.f_files and st.f_favail < need_files:
        raise RunFolderError(f"{what}: its file system has {st.f_favail} free inodes (files) left, "
                             f"the run needs {need_files}: free some, or choose another disk")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _target_problem(out: Path, force: bool, option: str, now: str = "") -> str | None:
    """Why ``out`` cannot take a run (``now="now "`` at commit time), or None."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        return f"{option} {out} {now}is a file, not a folder: choose a folder for the run"
    if out.is_dir() and any(out.iterdir()):
        if not is_run(out):
            others = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)[:3]
            return (f"{option} {out} {now}holds files that are not a genlearn run "
                    f"({', '.join(others)}, ...): choose a new or empty folder")
        if not force:
            return (f"{option} {out} {now or 'already '}holds a run: pass --force to replace "
                    f"it (once the new run is complete), or choose another folder")
    above = next((p for p in out.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        return f"{option} {out}: {above} is a file, not a folder"
    return None


class RunFolder:
    """A run's folder, written completely or not at all::

        with RunFolder(out, force=False) as run:   # claims and checks out; creates the temporary folder
            ... train; write files into run.tmp ...
            run.commit()                           # puts it in place
        # leaving without commit() (an exception, a Ctrl-C, a decision) removes run.tmp

    ``force`` replaces an earlier run (a folder of :data:`RUN_FILES` only), after the new
    one is complete; a folder holding anything else is never replaced. ``need_bytes``: the
    run's size, checked against the free space (and inodes) before any work is done.
    """

    def __init__(self, out: str | os.PathLike, *, force: bool = False, option: str = "--out",
                 need_bytes: int = 0):
        self.out = out = Path(os.path.abspath(out))  # "." and "a/.." name a folder, not a path to one
        self.force, self.option = force, option
        self.committed, self.kept, self.claim = False, None, None
        problem = _target_problem(out, force, option)
        if problem:
            raise RunFolderError(problem)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            check_room(out.parent, need_bytes, len(RUN_FILES) + 2, f"{option} {out}")
            self.claim = Claim(out, option)
        except OSError as err:
            raise RunFolderError(f"{option} {out}: cannot write there ({err.strerror or err})") from None
        try:
            clean_stale(out, claimed=True)
            problem = _target_problem(out, force, option)  # another run may have finished there meanwhile
            if problem:
                raise RunFolderError(problem)
            try:
                self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
            except OSError as err:
                raise RunFolderError(f"{option} {out}: cannot write there ({err.strerror or err})") from None
        except BaseException:
            self.claim.release()
            raise

    def commit(self) -> Path:
        """Put the finished run in place (replacing an earlier one, with ``force``); returns
        its path. Stop signals wait until it is done. On failure the outputs are kept in a
        visible folder beside the target and CommitError says where."""
        with signals_deferred():
            problem = _target_problem(self.out, self.force, self.option, now="now ")
            if problem is None:
                try:
                    problem = self._put_in_place()
                except OSError as err:
                    problem = f"{self.option} {self.out}: the run could not be put in place ({err.strerror or err})"
            if problem is None:
                self.committed = True
                return self.out
            self.kept = self._keep()
        raise CommitError(f"{problem}; the finished run is kept in {self.kept}", self.kept)

    def _put_in_place(self) -> str | None:
        out, tmp = self.out, self.tmp
        if not (out.is_dir() and any(out.iterdir())):
            os.replace(tmp, out)  # over a missing or empty folder (refused if it filled meanwhile)
            return None
        if exchange(tmp, out):
            earlier = tmp  # the exchange left the earlier run at the temporary name
        else:  # no exchange here: two renames (a kill between them is repaired by clean_stale)
            earlier = out.parent / f".{out.name}.old-{os.getpid()}-{tmp.name.rsplit('-', 1)[-1]}"
            os.replace(out, earlier)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(earlier, out)
                raise
        if not is_run(earlier):  # other files arrived since the check above: put everything back
            if not exchange(tmp, out):
                os.replace(out, tmp)
                os.replace(earlier, out)
            return _target_problem(out, self.force, self.option, now="now ") or f"{self.option} {out} changed"
        shutil.rmtree(earlier, ignore_errors=True)
        return None

    def _keep(self) -> Path:
        """The finished outputs, renamed to a visible folder beside the target if possible."""
        for i in range(100):
            kept = self.out.parent / f"{self.out.name}.unsaved-{os.getpid()}{f'-{i}' if i else ''}"
            if kept.exists() or kept.is_symlink():
                continue
            try:
                os.rename(self.tmp, kept)
                return kept
            except OSError:
                break
        return self.tmp

    def discard(self) -> None:
        """Remove the temporary folder unless the run was committed or kept; end the claim."""
        try:
            if not self.committed and self.kept is None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            if self.claim is not None:
                self.claim.release()

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()
