"""A real JupyterHub for the hub tests and benchmarks: the course's ``hub/`` installed into a
temporary prefix, started with its own start command on loopback, and real Unix users who
log in over HTTP and get their own JupyterLab.

Everything made here is named with a random tag and removed by :class:`HubSite.close`, which
also runs when a test fails: the hub and its proxy are stopped, any process still owned by
a test user is killed (by pid), the users, their homes and groups are deleted.

``GENLEARN_HUB_TEST_PREFIX=/some/dir`` reuses an install there between runs (``hub/install``
still runs and updates it, in ~30 s instead of ~2 min); by default each run installs into a
fresh temporary folder.
"""

from __future__ import annotations

import csv
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "hub"


def need(condition: bool, reason: str) -> None:
    """Skip when a hub test cannot run here; under CI (CI=true) fail instead."""
    import pytest

    if not condition:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the hub tests, but {reason}")
        pytest.skip(reason)


def check_can_run() -> None:
    need(os.geteuid() == 0, "the hub tests create Unix users and run servers as them: they need root")
    need(shutil.which("npm") is not None, "npm is missing (the hub's proxy, configurable-http-proxy, is an npm package)")
    need(shutil.which("useradd") is not None and shutil.which("runuser") is not None, "useradd/runuser are missing")
    python = os.environ.get("GENLEARN_HUB_PYTHON", "/usr/bin/python3")
    ok = Path(python).exists() and subprocess.run([python, "-c", "import ensurepip, venv"],
                                                   capture_output=True).returncode == 0
    need(ok, f"{python} with venv and ensurepip is missing (Debian: apt-get install python3-venv)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_dir(path: Path) -> Path:
    """A folder every user may traverse (pytest's tmp_path lives under a 0700 folder)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def install(prefix: Path, log: Path, tag: str | None = None, repo: Path = ROOT) -> float:
    """``hub/install`` of the checkout ``repo`` (default: this one) into ``prefix``; returns the
    seconds it took.

    With ``tag``, the install is for the groups a :class:`HubSite` of that tag makes, and its
    login-shell PATH script is ``/etc/profile.d/genlearn-hub-<tag>.sh`` (remove it with
    :func:`remove_profile`), so it touches only this test's accounts."""
    env = dict(os.environ, GENLEARN_HUB_PREFIX=str(prefix))
    if tag:
        env.update(GENLEARN_INSTRUCTORS=f"{tag}-inst", GENLEARN_STUDENTS=f"{tag}-stud",
                   GENLEARN_HUB_PROFILE=str(profile_path(tag)))
    for var in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):  # the hub's Python is its own
        env.pop(var, None)
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(["bash", str(Path(repo) / "hub" / "install")], env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"hub/install failed ({proc.returncode}):\n{log.read_text()[-4000:]}")
    return time.perf_counter() - start


def profile_path(tag: str) -> Path:
    return Path("/etc/profile.d") / f"genlearn-hub-{tag}.sh"


def remove_profile(tag: str) -> None:
    profile_path(tag).unlink(missing_ok=True)


def new_tag() -> str:
    return "gl" + secrets.token_hex(3)


def as_user(user: str, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a shell command as ``user`` through a login shell (their own environment and groups)."""
    return subprocess.run(["runuser", "-l", user, "-c", command], capture_output=True, text=True, timeout=timeout)


class HubSite:
    """A hub, its course folder, exchange and users, all under one random tag."""

    def __init__(self, prefix: Path, workdir: Path, tag: str | None = None, mem_limit: str = "2G"):
        self.prefix, self.workdir = Path(prefix), open_dir(Path(workdir))
        self.tag = tag or "gl" + secrets.token_hex(3)
        self.instructors, self.students_group = f"{self.tag}-inst", f"{self.tag}-stud"
        self.course_dir, self.exchange = self.workdir / "course", self.workdir / "exchange"
        self.state = self.workdir / "state"
        self.passwords = self.workdir / "passwords.csv"
        self.mem_limit = mem_limit
        self.users: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.port = self.api_port = self.hub_port = 0
        self.log = self.workdir / "hub.log"

    # -- accounts and course, through the documented commands
    def course_cli(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.prefix / "venv" / "bin" / "genlearn-course"), *args],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"genlearn-course {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def add_users(self, roster: Path | None = None, instructors=()) -> dict:
        """Accounts for a roster (students) and instructors; returns {user: password}."""
        if roster is not None:
            with roster.open() as f:
                self.users += [row["id"] for row in csv.DictReader(f)]
            self.course_cli("accounts", str(roster), "--group", self.students_group, "--passwords", str(self.passwords))
        if instructors:
            self.users += list(instructors)
            self.course_cli("accounts", *[a for u in instructors for a in ("--user", u)],
                            "--group", self.instructors, "--passwords", str(self.passwords))
        with self.passwords.open() as f:
            return {row["id"]: row["password"] for row in csv.DictReader(f)}

    def enroll(self, ids: list[str], source: Path, assignment: str = "ex01_likelihood") -> dict:
        """A class for the benchmarks: student accounts for ``ids`` (a roster) and the course set up
        from ``source`` with ``assignment``; returns {user: password}."""
        roster = self.workdir / "roster.csv"
        with roster.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "first_name", "last_name", "email"])
            w.writerows([sid, "Student", str(i), f"{sid}@example.org"] for i, sid in enumerate(ids))
        passwords = self.add_users(roster)
        self.course_cli("setup", str(self.course_dir), "--source", str(source), "--exchange", str(self.exchange),
                        "--assignment", assignment, "--roster", str(roster))
        return passwords

    # -- the hub
    def start(self, timeout: float = 90) -> float:
        self.port, self.api_port, self.hub_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(GENLEARN_HUB_PREFIX=str(self.prefix), GENLEARN_HUB_STATE=str(self.state),
                   GENLEARN_HUB_IP="127.0.0.1", GENLEARN_HUB_PORT=str(self.port),
                   GENLEARN_HUB_API_PORT=str(self.api_port), GENLEARN_HUB_HUB_PORT=str(self.hub_port),
                   GENLEARN_COURSE_DIR=str(self.course_dir), GENLEARN_EXCHANGE=str(self.exchange),
                   GENLEARN_INSTRUCTORS=self.instructors, GENLEARN_STUDENTS=self.students_group,
                   GENLEARN_MEM_LIMIT=self.mem_limit, GENLEARN_IDLE_MINUTES="0")
        start = time.perf_counter()
        self.proc = subprocess.Popen([str(self.prefix / "start")], env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url("/hub/api"), timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the hub did not answer on port {self.port} within {timeout:g} s:\n{self.log_tail()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, n: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def proxy_pid(self) -> int | None:
        path = self.state / "jupyterhub-proxy.pid"
        return int(path.read_text()) if path.exists() else None

    def user_processes(self) -> list[psutil.Process]:
        return processes_of(self.users)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM the hub (it stops every server and the proxy), as ctrl-C would."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        """Stop and remove everything this site made, whatever state it is in."""
        try:
            self.stop()
        finally:
            pid = self.proxy_pid() if self.state.exists() else None
            procs = self.user_processes() + ([psutil.Process(pid)] if pid and psutil.pid_exists(pid) else [])
            remove_everything(procs, self.users, (self.instructors, self.students_group), self.workdir)


def processes_of(users) -> list[psutil.Process]:
    """Every process whose real uid is one of these accounts'."""
    uids = set()
    for user in users:
        try:
            uids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            pass
    found = []
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] and p.info["uids"].real in uids:
                found.append(p)
        except psutil.Error:
            pass
    return found


def remove_everything(procs, users, groups, folder: Path) -> None:
    """Kill these processes (by pid), delete the accounts with their homes, the groups and the folder."""
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)
    for user in users:
        subprocess.run(["userdel", "--remove", user], capture_output=True)
    for group in groups:
        subprocess.run(["groupdel", group], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


class HubUser:
    """One person in a browser: logs in with a password, then talks to the hub and their server."""

    def __init__(self, site: HubSite, name: str, password: str):
        self.site, self.name, self.password = site, name, password
        self.http = requests.Session()
        self.token: str | None = None

    def login(self) -> None:
        page = self.http.get(self.site.url("/hub/login"), timeout=30)
        page.raise_for_status()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        r = self.http.post(self.site.url("/hub/login"), data={"username": self.name, "password": self.password,
                                                             "_xsrf": xsrf}, allow_redirects=False, timeout=60)
        if r.status_code != 302:
            raise AssertionError(f"login of {self.name} failed: HTTP {r.status_code}\n{r.text[-2000:]}\n{self.site.log_tail(2000)}")
        cookie = next((c.value for c in self.http.cookies if c.name == "_xsrf" and c.path.startswith("/hub")), xsrf)
        headers = {"X-XSRFToken": cookie}
        r = self.http.post(self.site.url(f"/hub/api/users/{self.name}/tokens"), json={"note": "hub test"},
                           headers=headers, timeout=30)
        assert r.status_code in (200, 201), f"token for {self.name}: HTTP {r.status_code} {r.text[:500]}"
        self.token = r.json()["token"]

    def hub_api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.site.url(f"/hub/api{path}"),
                                headers={"Authorization": f"token {self.token}"}, timeout=60, **kw)

    def spawn(self, timeout: float = 180) -> None:
        r = self.hub_api("POST", f"/users/{self.name}/server")
        assert r.status_code in (201, 202), f"spawn of {self.name}: HTTP {r.status_code} {r.text[:500]}"
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            server = self.hub_api("GET", f"/users/{self.name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.25)
        raise TimeoutError(f"{self.name}'s server was not ready after {timeout:g} s:\n{self.site.log_tail()}")

    def lab_ready(self, timeout: float = 60) -> str:
        """Wait until the user's JupyterLab page is served through the proxy; return its HTML."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            r = self.server("GET", "lab")
            if r.status_code == 200 and "jupyter-config-data" in r.text:
                return r.text
            time.sleep(0.25)
        raise TimeoutError(f"{self.name}'s JupyterLab did not load: HTTP {r.status_code}")

    def server(self, method: str, path: str, **kw) -> requests.Response:
        """A request to the user's own server, through the proxy, with the user's token."""
        kw.setdefault("timeout", 300)
        return requests.request(method, self.site.url(f"/user/{self.name}/{path}"),
                                headers={"Authorization": f"token {self.token}"}, **kw)

    def server_pid(self) -> int | None:
        for p in self.site.user_processes():
            try:
                if p.uids().real == pwd.getpwnam(self.name).pw_uid and "jupyterhub-singleuser" in " ".join(p.cmdline()):
                    return p.pid
            except psutil.Error:
                pass
        return None


def group_members(group: str) -> set[str]:
    return set(grp.getgrnam(group).gr_mem)


def new_workdir(prefix: str = "genlearn-hub-") -> Path:
    return open_dir(Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp")))
