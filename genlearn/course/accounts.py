"""Unix accounts for a class on a one-machine JupyterHub (run as root).

Each student gets an account named by their roster id, in the students' group, with a
private home (mode 0700: no other student can read it) and a random password, written to a
root-only CSV for you to hand out. Instructors are put in the instructors' group, which
gives them formgrader and the course folder. Existing accounts are only added to the group.
"""

from __future__ import annotations

import csv
import grp
import os
import pwd
import secrets
import subprocess
from pathlib import Path

HOME_MODE = 0o700


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        _run(["groupadd", name])
        return grp.getgrnam(name).gr_gid


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def ensure_accounts(users, group: str, passwords=None, comment=None) -> dict:
    """Create the accounts that are missing (home 0700, random password) and put every one
    in ``group``. Returns {user: new password} for the accounts created; also appended to
    the CSV ``passwords`` (mode 0600) when given."""
    if os.geteuid() != 0:
        raise PermissionError("creating accounts needs root (useradd, chpasswd)")
    ensure_group(group)
    created = {}
    for user in users:
        if _exists(user):
            _run(["usermod", "-a", "-G", group, user])
            continue
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", group,
              "--comment", (comment or {}).get(user, user), user])
        home = pwd.getpwnam(user).pw_dir
        os.chmod(home, HOME_MODE)
        created[user] = secrets.token_urlsafe(12)
    if created:
        _run(["chpasswd"], input="".join(f"{u}:{p}\n" for u, p in created.items()))
        if passwords:
            path = Path(passwords)
            new = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "w", newline="") as f:
                writer = csv.writer(f)
                if new:
                    writer.writerow(["id", "password"])
                writer.writerows(created.items())
    return created
