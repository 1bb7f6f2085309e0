"""Read a folder a student controls, safely: regular files only, bounded, at one moment in time.

The instructor's tools run with rights the student does not have (the course folder, the
gradebook, solutions/). Whatever they copy out of a student's folder must therefore be
what the student could have written, and nothing the student could point them at:

- the folder is opened without following links (``O_NOFOLLOW``), and every entry below it
  through its parent's file descriptor (``openat``), so a folder replaced by a link while
  it is read is refused, never followed;
- only regular files are read; a symbolic link, a device, a FIFO, a socket or a file that
  is not owned by the student (a hard link to someone else's file) is refused, by name,
  with the reason;
- a file is opened with ``O_NONBLOCK`` and checked again after opening (a FIFO swapped in
  for a file cannot stall the reader, another inode cannot be swapped in);
- sizes are bounded: per file, in total, in number of entries and in depth; a sparse file
  counts by its length (it would be copied densely);
- the time of the snapshot is the latest inode change time (``ctime``) of everything in
  it. The kernel sets ``ctime`` to its own clock on every write, rename, link or mode
  change, and no system call lets a user set it: a student can make a submission look
  later (by touching it), never earlier.

If anything changes while the folder is read (its newest ``ctime`` moves), the snapshot is
taken again; a folder that keeps changing is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

MB = 2**20
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Limits:
    max_file: int = 20 * MB       # one file
    max_total: int = 100 * MB     # everything in the folder
    max_entries: int = 500        # files and folders
    max_depth: int = 8            # folders inside folders


@dataclass
class Snapshot:
    """What a student's folder held: ``files`` {relative path: bytes}, ``time`` the newest
    ctime (seconds since the epoch), and ``refused`` [(relative path, reason)]."""

    files: dict = field(default_factory=dict)
    time: float = 0.0
    refused: list = field(default_factory=list)
    folders: list = field(default_factory=list)


class Refused(Exception):
    """The folder as a whole cannot be taken (not a folder, not the student's, too big, changing)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _owner_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class _Reader:
    def __init__(self, uid: int, limits: Limits, skip):
        self.uid, self.limits, self.skip = uid, limits, skip
        self.snap, self.total, self.entries = Snapshot(), 0, 0

    def _note_time(self, st) -> None:
        self.snap.time = max(self.snap.time, st.st_ctime)

    def read_dir(self, fd: int, rel: str, depth: int) -> None:
        for name in sorted(os.listdir(fd)):
            path = f"{rel}/{name}" if rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we read: the ctime check below catches the change
            self._note_time(st)
            if self.skip(path, name, st):
                continue
            self.entries += 1
            if self.entries > self.limits.max_entries:
                raise Refused(f"more than {self.limits.max_entries} files and folders")
            if st.st_uid != self.uid:
                self.snap.refused.append((path, f"owned by {_owner_name(st.st_uid)}, not the student"))
            elif stat.S_ISDIR(st.st_mode):
                if depth >= self.limits.max_depth:
                    self.snap.refused.append((path, f"folders nested deeper than {self.limits.max_depth}"))
                    continue
                sub = self._open(name, fd, _DIR, st, path)
                if sub is None:
                    continue
                try:
                    self.snap.folders.append(path)
                    self.read_dir(sub, path, depth + 1)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode):
                self.read_file(name, fd, st, path)
            else:
                self.snap.refused.append((path, _kind(st.st_mode)))

    def _open(self, name: str, fd: int, flags: int, st, path: str):
        try:
            new = os.open(name, flags, dir_fd=fd)
        except OSError as exc:
            self.snap.refused.append((path, f"cannot be opened without following a link ({exc.strerror})"))
            return None
        now = os.fstat(new)
        if (now.st_ino, now.st_dev, now.st_uid) != (st.st_ino, st.st_dev, st.st_uid) or \
                stat.S_IFMT(now.st_mode) != stat.S_IFMT(st.st_mode):
            os.close(new)
            self.snap.refused.append((path, "replaced while it was being read"))
            return None
        self._note_time(now)
        return new

    def read_file(self, name: str, fd: int, st, path: str) -> None:
        if st.st_size > self.limits.max_file:
            self.snap.refused.append((path, f"{st.st_size / MB:.1f} MB, more than the {self.limits.max_file / MB:g} MB a file may have"))
            return
        if self.total + st.st_size > self.limits.max_total:
            raise Refused(f"more than {self.limits.max_total / MB:g} MB in all")
        new = self._open(name, fd, _FILE, st, path)
        if new is None:
            return
        try:
            chunks, size = [], 0
            while size <= self.limits.max_file:
                chunk = os.read(new, min(MB, self.limits.max_file + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(new)
        if size > self.limits.max_file:
            self.snap.refused.append((path, f"grew past {self.limits.max_file / MB:g} MB while it was being read"))
            return
        self.total += size
        self.snap.files[path] = b"".join(chunks)


def take(path, uid: int, limits: Limits = Limits(), skip=lambda path, name, st: False, tries: int = 3) -> Snapshot:
    """Snapshot the folder ``path``, which must be a real folder owned by ``uid``.

    ``skip(relative_path, name, lstat)`` leaves entries out silently (and uncounted).
    Raises :class:`Refused` when the folder as a whole cannot be taken.
    """
    for _ in range(tries):
        fd, st = _open_owned(path, uid)
        try:
            reader = _Reader(uid, limits, skip)
            reader._note_time(st)
            reader.read_dir(fd, "", 0)
            # Unchanged while we read? The newest ctime, read again, must be the same.
            again = _newest_ctime(fd, "", 0, limits.max_depth, skip)
        finally:
            os.close(fd)
        if again <= reader.snap.time:
            return reader.snap
    raise Refused(f"it kept changing while it was being read ({tries} tries)")


def newest_time(path, uid: int, limits: Limits = Limits(), skip=lambda path, name, st: False) -> float:
    """The time :func:`take` would give ``path``, without reading any file (cheap: choosing which
    of a student's submissions to take must not cost the memory of all of them)."""
    fd, _ = _open_owned(path, uid)
    try:
        return _newest_ctime(fd, "", 0, limits.max_depth, skip)
    finally:
        os.close(fd)


def _open_owned(path, uid: int) -> tuple[int, os.stat_result]:
    """A descriptor of the folder ``path`` (never through a link) and its stat, if ``uid`` owns it."""
    try:
        fd = os.open(path, _DIR)
    except OSError as exc:
        raise Refused(f"not a folder that can be opened without following a link ({exc.strerror})") from None
    st = os.fstat(fd)
    if st.st_uid != uid:
        os.close(fd)
        raise Refused(f"owned by {_owner_name(st.st_uid)}, not the student")
    return fd, st


def _newest_ctime(fd: int, rel: str, depth: int, max_depth: int, skip) -> float:
    """The newest ctime of what :class:`_Reader` looks at (skipped folders are not entered)."""
    newest = os.fstat(fd).st_ctime
    for name in os.listdir(fd):
        path = f"{rel}/{name}" if rel else name
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return float("inf")
        newest = max(newest, st.st_ctime)
        if stat.S_ISDIR(st.st_mode) and depth < max_depth and not skip(path, name, st):
            try:
                sub = os.open(name, _DIR, dir_fd=fd)
            except OSError:
                continue
            try:
                newest = max(newest, _newest_ctime(sub, path, depth + 1, max_depth, skip))
            finally:
                os.close(sub)
    return newest
