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
"""

from __future__ import annotations

import grp
import os
import pwd
import resource

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer, Unicode

ROLES = ("instructor", "student")
THREAD_VARS = ("GENLEARN_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def user_groups(name: str) -> set[str]:
    """Names of every group the Unix user ``name`` belongs to (primary and supplementary)."""
    user = pwd.getpwnam(name)
    return {grp.getgrgid(gid).gr_name for gid in os.getgrouplist(name, user.pw_gid)}


def role_of(name: str, instructors_group: str) -> str:
    return "instructor" if instructors_group in user_groups(name) else "student"


class CourseSpawner(LocalProcessSpawner):
    instructors_group = Unicode("genlearn-instructors", help="Unix group of the instructors").tag(config=True)
    config_root = Unicode(help="Folder with common/, instructor/ and student/ Jupyter configuration").tag(config=True)
    course_id = Unicode("genlearn").tag(config=True)
    course_dir = Unicode("/srv/genlearn/course", help="The instructors' course folder").tag(config=True)
    exchange_root = Unicode("/srv/nbgrader/exchange", help="nbgrader's exchange").tag(config=True)
    max_processes = Integer(512, help="RLIMIT_NPROC of the user's processes (threads count)").tag(config=True)

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
        return await super().start()

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
