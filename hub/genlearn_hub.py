"""The spawner of the one-machine hub: each user's JupyterLab as that Unix user, with the
Jupyter configuration of their role and per-process resource limits.

Role
    A user in the instructors' Unix group (``CourseSpawner.instructors_group``) is an
    instructor: formgrader, create-assignment and the course folder. Everyone else is a
    student: the assignment list and Validate only. The role picks the folder of Jupyter
    configuration the server reads (``JUPYTER_CONFIG_PATH``: ``<config_root>/<role>`` then
    ``<config_root>/common``); nothing is configured per user.

Course folder
    formgrader works only on a course folder inside the server's root (the user's home), so
    an instructor's server starts with ``~/course-<course id>``, a link to the course folder,
    and nbgrader's ``CourseDirectory.root`` pointing at it.

Limits (LocalProcessSpawner enforces none of its own)
    ``mem_limit``      the address space of each process of the user's server (RLIMIT_AS):
                       the server and each kernel separately, not their sum
    ``max_processes``  processes and threads the user may run at once (RLIMIT_NPROC)
    ``cpu_limit``      thread counts for torch, OpenMP and BLAS (GENLEARN_NUM_THREADS,
                       OMP_NUM_THREADS, ...): a cap on what a student's code asks for, not
                       an enforced share of the CPU
    umask              students 077 (their files are theirs alone), instructors 007 (the
                       instructors' group shares the course folder)

    A per-user total of memory and an enforced CPU share need cgroups: on a machine run by
    systemd use jupyterhub-systemdspawner (``c.SystemdSpawner.mem_limit`` / ``cpu_limit``),
    as The Littlest JupyterHub does; docs/hub.md shows how.

A line for starting servers (``concurrent_starts``)
    A server's start is about a CPU-second of imports and set-up. When a class logs in at
    the same moment, every server started at once shares the CPUs with all the others, so
    they all finish together, late, and the hub's own event loop waits for CPU among them.
    Servers therefore start a few at a time (by default as many as the hub has CPUs), first
    come first served; the others wait in line, and their spawn page says how many are
    ahead. A turn lasts until the server listens on its port, or exits, or ``turn_seconds``
    pass: a server that starts slowly (or a student's own ~/.jupyter config that sleeps) then
    goes on starting outside the line, so nobody holds the class up for longer than that. The
    wait in line counts in JupyterHub's ``start_timeout``.

A template for servers (``server_template``)
    Most of a server's start is imports. The first start runs ``server_template.py`` (as
    root, with an environment of its own), which imports them once; each server is then
    forked from it, becomes its user with the same ``become`` as a spawned server, and runs
    with everything already imported. Its docstring says what keeps users apart. A custom
    ``Spawner.cmd``, or a template that cannot be reached, falls back to a new interpreter per
    server; once a request is sent, its failure is the start's (no second server beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.utils import random_port
from server_template import become, template_env
from traitlets import Bool, Float, Integer, Unicode, default

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server_template.py")

ROLES = ("instructor", "student")
THREAD_VARS = ("GENLEARN_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def user_groups(name: str) -> set[str]:
    """Names of every group the Unix user ``name`` belongs to (primary and supplementary)."""
    user = pwd.getpwnam(name)
    return {grp.getgrgid(gid).gr_name for gid in os.getgrouplist(name, user.pw_gid)}


def role_of(name: str, instructors_group: str) -> str:
    return "instructor" if instructors_group in user_groups(name) else "student"


class StartLine:
    """At most ``size`` holders at once, the others served first come, first served.

    ``turn()`` is an async context manager; ``ahead(ticket)`` says how many wait in front of
    the holder of a ticket from ``turn``. A holder cancelled while waiting leaves the line; one
    cancelled just after its turn came passes the turn on."""

    def __init__(self, size: int):
        self.size, self.running = size, 0
        self.line: list[asyncio.Future] = []

    def ahead(self, ticket: asyncio.Future | None) -> int:
        return self.line.index(ticket) if ticket in self.line else 0

    @contextlib.asynccontextmanager
    async def turn(self, on_ticket=lambda ticket: None):
        if self.running < self.size and not self.line:
            self.running += 1
        else:
            ticket = asyncio.get_running_loop().create_future()
            self.line.append(ticket)
            on_ticket(ticket)
            try:
                await ticket  # resolved by a leaving holder, who hands us its place
            except asyncio.CancelledError:
                if ticket in self.line:
                    self.line.remove(ticket)
                else:
                    self._leave()
                raise
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        while self.line:
            ticket = self.line.pop(0)
            if not ticket.done():
                ticket.set_result(None)
                return
        self.running -= 1


class CourseSpawner(LocalProcessSpawner):
    instructors_group = Unicode("genlearn-instructors", help="Unix group of the instructors").tag(config=True)
    config_root = Unicode(help="Folder with common/, instructor/ and student/ Jupyter configuration").tag(config=True)
    course_id = Unicode("genlearn").tag(config=True)
    course_dir = Unicode("/srv/genlearn/course", help="The instructors' course folder").tag(config=True)
    exchange_root = Unicode("/srv/nbgrader/exchange", help="nbgrader's exchange").tag(config=True)
    max_processes = Integer(512, help="RLIMIT_NPROC of the user's processes (threads count)").tag(config=True)
    concurrent_starts = Integer(
        help="Servers starting at the same time; the others wait in line (0: no line, all at once). "
             "Default: the number of CPUs the hub may use").tag(config=True)

    turn_seconds = Float(15, help="Longest turn in the start line: a server not listening by then "
                                   "goes on starting outside it").tag(config=True)

    server_template = Bool(True, help="Fork each server from a template that has already imported what "
                                      "servers import (server_template.py); False: a new interpreter each").tag(config=True)

    _lines: dict[int, StartLine] = {}  # one line per size, shared by every spawner of the hub
    _ticket: asyncio.Future | None = None
    _template: dict = {}  # the hub's one template: {"proc", "socket", "folder"}
    _template_lock: asyncio.Lock | None = None

    @default("concurrent_starts")
    def _default_concurrent_starts(self) -> int:
        return len(os.sched_getaffinity(0))

    def start_line(self) -> StartLine | None:
        size = self.concurrent_starts
        return None if size <= 0 else CourseSpawner._lines.setdefault(size, StartLine(size))

    @property
    def role(self) -> str:
        return role_of(self.user.name, self.instructors_group)

    def course_link(self) -> str:
        return os.path.join(pwd.getpwnam(self.user.name).pw_dir, f"course-{self.course_id}")

    def link_course(self) -> None:
        """``~/course-<id>`` -> the course folder, made once, owned by the instructor; an
        existing file of the same name is left alone (formgrader then says it cannot work)."""
        link = self.course_link()
        if os.path.islink(link) and os.readlink(link) == self.course_dir:
            return
        if os.path.lexists(link):
            self.log.warning("%s exists and is not a link to %s: formgrader will not find the course", link, self.course_dir)
            return
        user = pwd.getpwnam(self.user.name)
        os.symlink(self.course_dir, link)
        os.lchown(link, user.pw_uid, user.pw_gid)

    async def start(self):
        if self.role == "instructor":
            self.link_course()
        line = self.start_line()
        if line is None:
            return await self.spawn_server()
        waited = time.perf_counter()
        async with line.turn(on_ticket=lambda ticket: setattr(self, "_ticket", ticket)):
            self._ticket = None
            if time.perf_counter() - waited > 1:
                self.log.info("%s waited %.1f s in line to start", self._log_name, time.perf_counter() - waited)
            ip, port = await self.spawn_server()
            if not await self.wait_until_listening(ip, port, self.turn_seconds):
                self.log.warning("%s's server did not listen within %g s: it goes on starting outside the line",
                                 self._log_name, self.turn_seconds)
        return ip, port

    async def spawn_server(self) -> tuple[str, int]:
        """The user's server, forked from the template where it can be, else as JupyterHub starts
        it (a new interpreter through ``Popen`` and ``make_preexec_fn``)."""
        if self.uses_template():
            try:
                reader, writer = await asyncio.open_unix_connection(await self.template_socket())
            except Exception as e:  # the template is an optimization: never the reason a server fails
                self.log.warning("%s: the server template is not available (%s: %s); starting a new interpreter",
                                 self._log_name, type(e).__name__, e)
            else:  # once the request is sent, a failure is the server's: no second server beside it
                return await self.fork_from_template(reader, writer)
        return await super().start()

    def uses_template(self) -> bool:
        """Only for the command the course ships (c.Spawner.cmd in jupyterhub_config.py)."""
        shipped = [os.path.join(sys.prefix, "bin", "jupyterhub-singleuser")]
        return self.server_template and list(self.cmd) == shipped and not self.shell_cmd

    async def template_socket(self) -> str:
        """The template's socket, starting the template first if it is not running."""
        cls = CourseSpawner
        if cls._template_lock is None:
            cls._template_lock = asyncio.Lock()
        async with cls._template_lock:
            old = cls._template
            if old and old["proc"].poll() is None:
                return old["socket"]
            if old:  # it died: its folder may be left
                shutil.rmtree(old["folder"], ignore_errors=True)
            folder = tempfile.mkdtemp(prefix="genlearn-server-template-")  # mode 0700: root only
            path = os.path.join(folder, "socket")
            proc = subprocess.Popen([sys.executable, TEMPLATE, path], env=template_env(), cwd="/",
                                    stdin=subprocess.DEVNULL, close_fds=True)
            deadline = time.perf_counter() + 120
            while not os.path.exists(path):
                if proc.poll() is not None or time.perf_counter() > deadline:
                    proc.kill()
                    raise RuntimeError(f"the server template did not start (exit status {proc.poll()})")
                await asyncio.sleep(0.05)
            cls._template = {"proc": proc, "socket": path, "folder": folder}
            return path

    async def fork_from_template(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int]:
        """Send the server's request over a connection to the template; its child answers with its pid."""
        if self.port == 0:
            self.port = random_port()
        request = {"argv": list(self.cmd) + self.get_args(), "env": self.get_env(),
                   "settings": self.process_settings(self.user.name)}
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), 30)
        finally:
            writer.close()
        self.pid, self.proc = int(json.loads(answer)["pid"]), None
        self.log.info("%s's server forked from the template: pid %d", self._log_name, self.pid)
        return self.ip or "127.0.0.1", self.port

    async def wait_until_listening(self, ip: str, port: int, timeout: float) -> bool:
        """True once the server accepts connections on its port, False if it does not within
        ``timeout`` seconds; raises if it exits first."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.proc is not None:
                status = self.proc.poll()
            else:  # forked from the template: not our child, but ours to signal
                status = None if self.pid and await self._signal(0) else "unknown"
            if status is not None:
                raise RuntimeError(f"{self._log_name}'s server exited with status {status} before it listened on port {port}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(ip, port)
                writer.close()
                return True
            if time.perf_counter() > deadline:
                return False
            await asyncio.sleep(0.1)

    async def progress(self):
        """The spawn page's messages: the place in line while waiting, then the start."""
        told = None
        while self._ticket is not None and not self._ticket.done():
            ahead = self.start_line().ahead(self._ticket)
            if ahead != told:
                told = ahead
                yield {"progress": 10, "message": f"Waiting for a turn to start: {ahead} ahead of you "
                                                  f"({self.concurrent_starts} servers start at a time)"}
            await asyncio.sleep(0.5)
        yield {"progress": 50, "message": "Starting your JupyterLab..."}

    def get_env(self):
        env = super().get_env()
        role = self.role
        env["GENLEARN_ROLE"] = role
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            os.path.join(self.config_root, d) for d in (role, "common"))
        env["GENLEARN_COURSE_ID"] = self.course_id
        env["GENLEARN_EXCHANGE"] = self.exchange_root
        if role == "instructor":
            env["GENLEARN_COURSE_DIR"] = self.course_link()
        if self.cpu_limit:
            threads = str(max(1, int(self.cpu_limit)))
            env.update({var: threads for var in THREAD_VARS})
        return env

    def process_settings(self, name: str) -> dict:
        """Who the user's server runs as and its limits: what ``server_template.become`` applies."""
        user = pwd.getpwnam(name)
        rlimits = {"RLIMIT_AS": int(self.mem_limit or 0), "RLIMIT_NPROC": int(self.max_processes or 0)}
        return {"uid": user.pw_uid, "gid": user.pw_gid, "groups": os.getgrouplist(name, user.pw_gid),
                "home": user.pw_dir, "umask": 0o007 if role_of(name, self.instructors_group) == "instructor" else 0o077,
                "rlimits": {k: v for k, v in rlimits.items() if v}}

    def make_preexec_fn(self, name):
        settings = self.process_settings(name)

        def preexec():  # in the child, after fork and before exec: limits first, then the user
            become(settings)

        return preexec
