"""A class on one machine without a hub: real Unix accounts (an instructor and students) and
nbgrader's commands run as each of them, against a course made by ``genlearn-course setup``.

Used by tests/test_exchange_attacks.py. Everything is named with a random tag and removed
by :meth:`Klass.close`, which also runs when a test fails.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import hub_support as hs

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"


def open_to_all(path: str | Path) -> bool:
    """Whether every account can reach and read ``path`` (each folder above it traversable)."""
    path = Path(path).resolve()
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _copy_for_all(src: str | Path, dest: Path) -> Path:
    """A copy of ``src`` every account may read: hard links where one filesystem allows them
    (seconds for a site-packages of torch), a real copy where it does not."""
    try:
        shutil.copytree(src, dest, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest, symlinks=True)
    return dest


def shared_python(folder: Path) -> Path:
    """A Python every account may run, seeing this environment's packages and this checkout.

    The tests' own interpreter may live where other users cannot enter (pyenv under /root, a
    CI's ``mktemp -d``): a virtual environment of the system's Python 3 whose ``.pth`` adds this
    environment's site-packages (and so the editable genlearn) runs nbgrader as any user. Where
    those folders are closed to other accounts, the ``.pth`` adds copies of them instead."""
    import site
    import sysconfig

    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(folder)], check=True)
    purelib = subprocess.run([str(folder / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    dirs = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()]
    dirs = [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)  # before the copies: hard links share modes
    shared = []
    for i, d in enumerate(dirs):
        shared.append(d if open_to_all(d) else str(_copy_for_all(d, folder / f"site-{i}")))
    checkout = str(ROOT)
    if not open_to_all(ROOT / "genlearn"):  # genlearn from this checkout, copied where closed
        checkout = str(_copy_for_all(ROOT / "genlearn", folder / "checkout" / "genlearn").parent)
    lines = [f"import site; site.addsitedir({d!r})" for d in shared]
    lines.append(f"import sys; sys.path.insert(0, {checkout!r})")
    Path(purelib, "_genlearn_tests.pth").write_text("\n".join(lines) + "\n")
    for name, module in (("nbgrader", "nbgrader"), ("genlearn-course", "genlearn.course.cli")):
        script = folder / "bin" / name
        script.write_text(f"#!/bin/sh\nexec {folder}/bin/python -m {module} \"$@\"\n")
        script.chmod(0o755)
    for top, subdirs, _ in os.walk(folder):  # the copies' folders; their files keep their modes
        os.chmod(top, os.stat(top).st_mode | 0o555)
    return folder / "bin"


def need_root() -> None:
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI must run the exchange attack tests, but they need root, useradd and runuser")
        pytest.skip("the exchange attack tests create Unix users: they need root, useradd and runuser")


class Klass:
    """An instructor (in the instructors' group), students, a course and its exchange."""

    def __init__(self, students=("s1", "s2", "eve")):
        self.tag = "gx" + secrets.token_hex(3)
        self.work = Path(tempfile.mkdtemp(prefix="genlearn-exchange-", dir="/tmp"))
        os.chmod(self.work, 0o755)
        self.group = f"{self.tag}-inst"
        self.instructor = f"{self.tag}inst"
        self.students = {s: f"{self.tag}{s}" for s in students}
        self.users: list[str] = []
        self.bin = shared_python(self.work / "python")
        self.course, self.exchange = self.work / "course", self.work / "exchange"
        subprocess.run(["groupadd", self.group], check=True)
        for name in [self.instructor, *self.students.values()]:
            extra = ["--groups", self.group] if name == self.instructor else []
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", *extra, name], check=True)
            os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
            self.users.append(name)

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def uid(self, user: str) -> int:
        return pwd.getpwnam(user).pw_uid

    def run(self, user: str, command: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """``command`` (a shell line) as ``user``, with this Python's tools on PATH and the
        hub's settings (the exchange and course id that hub/jupyter/common reads)."""
        env = (f"HOME={self.home(user)} USER={user} LOGNAME={user} PATH={self.bin}:/usr/bin:/bin LANG=C.UTF-8 "
               f"GENLEARN_EXCHANGE={self.exchange} GENLEARN_COURSE_ID=genlearn")
        command = " ".join(f"export {kv};" for kv in env.split()) + " " + command
        where = f"cd {cwd} && " if cwd else f"cd {self.home(user)} && "
        return subprocess.run(["runuser", "-u", user, "--", "env", "-i", "bash", "-c", f"umask 077; {where}{command}"],
                              capture_output=True, text=True, timeout=timeout)

    def ok(self, user: str, command: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        proc = self.run(user, command, cwd)
        assert proc.returncode == 0, f"{user}: `{command}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    def student_config(self, user: str) -> None:
        """What the hub's common nbgrader_config.py gives every student (hub/jupyter/common)."""
        text = (ROOT / "hub" / "jupyter" / "common" / "nbgrader_config.py").read_text()
        path = self.home(user) / "nbgrader_config.py"
        path.write_text(text)
        os.chown(path, self.uid(user), self.uid(user))

    def close(self) -> None:
        hs.remove_everything(hs.processes_of(self.users), self.users, (self.group,), self.work)
