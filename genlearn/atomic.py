"""Files and run folders written completely or not at all, and JSON that strict readers accept.

:func:`atomic_write` writes one file (a checkpoint, a cache) into a temporary file in the same
folder, flushes it to disk and renames it over the target: a crash or a full disk leaves the
old file or the new one, and no temporary file behind.

A run's outputs are written into a temporary folder beside the target
(``.NAME.tmp-PID-xxxx``) and renamed into place once every file is written, so a crash, a
kill or a full disk leaves either the earlier run or the new one, never a mix of the two:

* the target is checked before any work is done (a file, a folder of other files, an
  unwritable parent, an earlier run without ``force``: a one-line :class:`RunFolderError`);
* an earlier run is replaced only with ``force``, and only after the new one is complete:
  it is renamed aside (``.NAME.old-PID-xxxx``), the new folder renamed in, the old removed;
* leftovers of a killed process (its pid is gone) are cleaned on the next start: its
  temporary folder is removed, and a run it had renamed aside goes back where it was if
  nothing took its place.

:func:`write_json` writes NaN and infinities as ``null`` (``allow_nan=False`` after the
conversion), so no JSON file of genlearn holds ``NaN``, which strict readers reject.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

RUN_FILES = ("metrics.json", "samples.npy", "samples.png", "model.pt")
"""What ``genlearn train`` writes; a folder holding only these is a run ``force`` may replace."""


class RunFolderError(ValueError):
    """The target of a run cannot take it (a file, other files, no write access, an earlier run)."""


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _leftovers(out: Path, what: str) -> list[tuple[Path, int]]:
    """``(folder, pid)`` of the ``.NAME.<what>-PID-*`` folders beside ``out``."""
    prefix = f".{out.name}.{what}-"
    found = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        if entry.name.startswith(prefix) and pid_text.isdigit():
            found.append((entry, int(pid_text)))
    return found


def clean_stale(out: str | os.PathLike) -> list[Path]:
    """Tidy up after a killed run at ``out``: remove its temporary folders and put back an
    earlier run it had moved aside (if ``out`` is empty). Folders of live processes are left
    alone. Returns the folders removed or restored."""
    out = Path(out)
    touched = []
    for folder, pid in _leftovers(out, "tmp"):
        if not _pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            touched.append(folder)
    for folder, pid in _leftovers(out, "old"):
        if _pid_alive(pid):
            continue
        if not out.exists() or (out.is_dir() and not any(out.iterdir())):
            os.replace(folder, out)  # the killed run had not put its own in place yet
        else:
            shutil.rmtree(folder, ignore_errors=True)
        touched.append(folder)
    return touched


def is_run(folder: Path) -> bool:
    """A folder holding only run outputs (:data:`RUN_FILES`), at least one of them."""
    names = {p.name for p in folder.iterdir()}
    return bool(names) and names <= set(RUN_FILES)


class RunFolder:
    """A run's folder, written completely or not at all::

        with RunFolder(out, force=False) as run:   # checks out; creates the temporary folder
            ... write files into run.tmp ...
            run.commit()                           # renames it into place
        # leaving without commit() (an exception, a Ctrl-C, a decision) removes run.tmp

    ``force`` replaces an earlier run (a folder of :data:`RUN_FILES` only), after the new
    one is complete; a folder holding anything else is never replaced.
    """

    def __init__(self, out: str | os.PathLike, *, force: bool = False, option: str = "--out"):
        self.out = out = Path(os.path.abspath(out))  # "." and "a/.." name a folder, not a path to one
        clean_stale(out)
        if out.is_symlink() or (out.exists() and not out.is_dir()):
            raise RunFolderError(f"{option} {out} is a file, not a folder: choose a folder for the run")
        if out.is_dir() and any(out.iterdir()):
            if not is_run(out):
                others = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)[:3]
                raise RunFolderError(f"{option} {out} holds files that are not a genlearn run "
                                     f"({', '.join(others)}, ...): choose a new or empty folder")
            if not force:
                raise RunFolderError(f"{option} {out} already holds a run: pass --force to replace "
                                     f"it (once the new run is complete), or choose another folder")
        above = next((p for p in out.absolute().parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise RunFolderError(f"{option} {out}: {above} is a file, not a folder")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
        except OSError as err:
            raise RunFolderError(f"{option} {out}: cannot write there ({err.strerror or err})") from None
        self.committed = False

    def commit(self) -> Path:
        """Put the finished run in place (replacing an earlier one); returns its path."""
        out = self.out
        if out.is_dir() and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
            os.replace(out, old)      # from here to the next line a kill leaves both aside:
            os.replace(self.tmp, out)  # clean_stale puts the old one back
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, out)  # over a missing or empty folder
        self.committed = True
        return out

    def discard(self) -> None:
        if not self.committed:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()
