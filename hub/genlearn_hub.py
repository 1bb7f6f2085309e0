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
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import resource
import time

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Float, Integer, Unicode, default

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

    _lines: dict[int, StartLine] = {}  # one line per size, shared by every spawner of the hub
    _ticket: asyncio.Future | None = None

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
            return await super().start()
        waited = time.perf_counter()
        async with line.turn(on_ticket=self._take_ticket):
            self._ticket = None
            if time.perf_counter() - waited > 1:
                self.log.info("%s waited %.1f s in line to start", self._log_name, time.perf_counter() - waited)
            ip, port = await super().start()
            if not await self.wait_until_listening(ip, port, self.turn_seconds):
                self.log.warning("%s's server did not listen within %g s: it goes on starting outside the line",
                                 self._log_name, self.turn_seconds)
        return ip, port

    def _take_ticket(self, ticket: asyncio.Future) -> None:
        self._ticket = ticket

    async def wait_until_listening(self, ip: str, port: int, timeout: float) -> bool:
        """True once the server accepts connections on its port, False if it does not within
        ``timeout`` seconds; raises if it exits first."""
        deadline = time.perf_counter() + timeout
        while True:
            status = self.proc.poll() if self.proc is not None else None
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

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        memory, processes = int(self.mem_limit or 0), int(self.max_processes or 0)
        umask = 0o007 if role_of(name, self.instructors_group) == "instructor" else 0o077

        def preexec():  # in the child, after fork and before exec: limits first, then the user
            if memory:
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            if processes:
                resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
            os.umask(umask)
            become_user()

        return preexec
