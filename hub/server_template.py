"""A template for the users' servers: it imports once what every JupyterLab server imports,
then forks each user's server from itself instead of starting a new interpreter.

A server's start is about 1.2 CPU-seconds, nearly all imports (jupyterhub.singleuser,
jupyterlab, nbgrader's server extensions); a class logging in at 9:00 pays it once per
student, all at the same moment. The template pays it once; a server forked from it starts
with everything imported (benchmarks/README.md, "Class start").

    python server_template.py SOCKET      (as root, started by hub/genlearn_hub.py)

What keeps one user from another
    - The template is started with an environment of its own (PATH, LANG, HOME=/nonexistent):
      none of the hub's secrets, and no user's.
    - It never reads a request: for each connection it forks first, and only the child, which
      becomes that one user's server, reads what the hub sends (the server's environment,
      with its API token). So no server is forked from a process that held another user's
      request.
    - The child gives up root exactly as a spawned server does (``become``: resource limits,
      umask, groups, gid, uid, home), the same function for both ways of starting.
    - The socket lives in a folder only root can enter (mode 0700, made by the hub).
    - A request whose environment would change how the interpreter starts (any ``PYTHON*``
      variable) or what jupyterhub.singleuser decided when it was imported is served by
      executing the command in the child after ``become``, exactly as without a template.

    What forked servers share with each other and the template: the memory layout (address
    space randomization happens once, in the template) and Python's hash seed. A student
    learns both from their own server; neither gives them a way into another's server, which
    still checks every request's token.

    The template exits with the hub (PR_SET_PDEATHSIG); servers forked from it do not.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import socket
import sys

# What the students' and instructors' servers import (hub/jupyter/*/jupyter_server_config.json);
# a module that is not installed is skipped.
PRELOAD = ("jupyterhub.singleuser", "jupyter_server.serverapp", "jupyterlab.labapp", "jupyter_server_terminals",
           "jupyter_lsp", "notebook.app", "notebook_shim", "nbgrader.server_extensions.assignment_list",
           "nbgrader.server_extensions.validate_assignment", "nbgrader.server_extensions.course_list",
           "nbgrader.server_extensions.formgrader")
# jupyterhub.singleuser reads these when it is imported (in the template, with them unset)
DECIDED_AT_IMPORT = ("JUPYTERHUB_SINGLEUSER_APP", "JUPYTERHUB_SINGLEUSER_EXTENSION")
MAX_REQUEST = 1 << 20
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_DUMPABLE = 4


def template_env() -> dict:
    """The template's whole environment: nothing from the hub but the PATH and the locale."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": "/nonexistent"}


def become(settings: dict) -> None:
    """Give up root for the user in ``settings`` (from ``process_settings``): limits, umask,
    supplementary groups, gid, uid, then their home as the working folder."""
    for name, value in settings["rlimits"].items():
        limit = getattr(resource, name)
        resource.setrlimit(limit, (value, value))
    os.umask(settings["umask"])
    os.setgid(settings["gid"])
    os.setgroups(settings["groups"])
    os.setuid(settings["uid"])
    if os.getuid() != settings["uid"] or os.geteuid() != settings["uid"] or set(os.getgroups()) - set(settings["groups"]):
        raise PermissionError("could not drop privileges")  # never go on as root
    try:
        os.chdir(settings["home"])
    except OSError:
        os.chdir("/")


def preload() -> list[str]:
    loaded = []
    for name in PRELOAD:
        try:
            __import__(name)
            loaded.append(name)
        except ImportError:
            pass
    return loaded


def retitle(argv: list[str]) -> None:
    """Show ``argv`` as this process's command line (ps, top, /proc/PID/cmdline) instead of the
    template's: written over the original, which is as long as it gets (the rest cut)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5), fields 48 and 49)
        title = "\0".join(argv).encode()[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(title + b"\0" * (end - start - len(title)))
        ctypes.CDLL(None).prctl(PR_SET_NAME, os.path.basename(argv[0]).encode()[:15], 0, 0, 0)


def run_server(request: dict) -> None:
    """In the child, after ``become``: the server, in this already-prepared interpreter when it
    can be, else by executing its command (never returns)."""
    argv, env = request["argv"], request["env"]
    plain = not any(k.startswith("PYTHON") for k in env) and not any(env.get(k) for k in DECIDED_AT_IMPORT)
    if not plain:
        os.execve(argv[0], argv, env)
    os.environ.clear()
    os.environ.update(env)
    import random
    import site

    random.seed()
    if site.ENABLE_USER_SITE:  # the user's ~/.local, as their own interpreter would add it
        site.USER_BASE = site.USER_SITE = None
        user_site = site.getusersitepackages()
        if os.path.isdir(user_site):
            site.addsitedir(user_site)
    sys.argv = list(argv)
    from jupyterhub.singleuser import main

    sys.exit(main())


def serve(conn: socket.socket) -> None:
    """The child of one connection: read the request, answer with our pid, become the user's
    server. Exits on any error before the server runs."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server waits for its kernels
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with conn, conn.makefile("rb") as f:
            request = json.loads(f.readline(MAX_REQUEST))
            os.setsid()
            conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        retitle(request["argv"])  # while root: giving up root makes /proc/self/mem root's
        become(request["settings"])
        # as after an exec: the user may inspect their own server (its memory holds only the
        # template's imports and their own request), and /proc/self is theirs again
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        run_server(request)
    except SystemExit:
        raise  # the server's own exit: through the interpreter's normal shutdown (atexit, logging)
    except BaseException as e:  # noqa: BLE001 - this process must never return into the template's loop
        print(f"server template: the server could not start: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        os._exit(1)
    os._exit(0)


def main(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:
        sys.exit("server template: the hub is gone")
    loaded = preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # servers are reaped by the kernel, never zombies

    def leave(signum, frame):  # the hub stopped (PR_SET_PDEATHSIG) or stops us: take the socket along
        with contextlib.suppress(OSError):
            os.unlink(path)
            os.rmdir(os.path.dirname(path))
        os._exit(0)

    signal.signal(signal.SIGTERM, leave)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    os.chmod(path + ".new", 0o600)
    listener.listen(128)
    os.rename(path + ".new", path)  # the hub waits for this name: it appears ready
    print(f"server template: {len(loaded)} modules imported, serving on {path}", file=sys.stderr, flush=True)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            serve(conn)
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
