"""nbgrader's exchange for a class on one machine, made attributable and private.

nbgrader's own exchange (0.9.6) trusts what students write: the student id and the time are
parts of a folder name the submitter chooses, ``collect`` follows links and copies whatever
it finds with the instructor's rights, and submissions are readable and writable by every
user who can guess a name. These classes keep nbgrader's commands and the Assignments tab
(release, fetch, submit, collect, release and fetch feedback, list) and change where things
live and what the instructor's side believes::

    <root>/<course>/outbound/<assignment>/     the release: instructors write, everyone reads
    <root>/<course>/inbound/<student>/         one folder per student, owned by the student,
        <assignment>+<random>/                 group: the instructors (read only); nobody else
    <root>/<course>/feedback/<student>/        one folder per student: the instructors write
        <hash>.html                            feedback, the student reads it; nobody else

- **Who**: a submission counts for the student whose folder it is in, and only when the
  folder and everything in it belong to that student's account (``identity = "owner"``,
  one machine). On Kubernetes, where every server runs as the same uid, the hub mounts only
  ``inbound/<user>`` and ``feedback/<user>`` into a student's server, so the folder *is* the
  hub's identity (``identity = "mount"``; hub/z2jh/). ``submit --student other`` is refused.
- **When**: the exchange's own clock: the newest inode change time (ctime) of the
  submission, which the kernel sets and no user can set back (:mod:`.snapshot`). The
  student's ``timestamp.txt`` is ignored; ``collect`` writes its own. A time in the future
  is refused.
- **What**: ``collect`` copies regular files owned by the student only, bounded in size and
  number, without following any link (:mod:`.snapshot`); everything it leaves out is
  reported per student, and one broken submission never stops the rest of the class.
  ``release_feedback`` sends each student the HTML of the notebooks they submitted, regular
  files only, written so that a link planted in the student's feedback folder is replaced,
  never followed.
- **Private**: the folders are made by ``genlearn-course setup`` (as root: the per-student
  folders already exist, so nobody can take another's name). Without root, students make
  their own ``inbound/<name>`` on first submit in a sticky folder, and a folder taken by
  someone else is reported by ``collect`` and refused.

Switched on by :func:`configure` (the course's and the hub's ``nbgrader_config.py``).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import time

from nbgrader.exchange import default
from nbgrader.exchange.abc import ExchangeError
from nbgrader.utils import find_all_notebooks, notebook_hash, parse_utc
from traitlets import Enum, Float, Integer

from . import snapshot

STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
SUBMISSION = re.compile(r"(?P<assignment>[A-Za-z0-9_][A-Za-z0-9_.-]*)\+(?P<token>[A-Za-z0-9_-]{8,64})")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
MAX_SUBMISSIONS = 200  # a student's folder with more entries: only the newest are looked at
#: files of a submission that the exchange itself writes in submitted/ (a student's copies are ignored)
OURS = ("timestamp.txt",)

# Modes of the exchange's folders. ``setup`` as root makes the per-student ones; the others are
# what an instructor without root makes (see the module docstring).
COURSE_MODE, OUTBOUND_MODE = 0o2755, 0o2775
INBOUND_MODE, FEEDBACK_MODE = 0o2751, 0o2751          # students may pass through, not list
OPEN_INBOUND_MODE = 0o3733                              # no root: students make their own folder (sticky)
STUDENT_INBOUND_MODE, STUDENT_FEEDBACK_MODE = 0o2750, 0o2770
SUBMISSION_DIR_MODE, SUBMISSION_FILE_MODE = 0o2750, 0o640


def configure(c, identity: str = "owner") -> None:
    """Use these classes for every exchange command in the nbgrader config ``c``."""
    for trait, cls in (("exchange", "CourseExchange"), ("fetch_assignment", "ExchangeFetchAssignment"),
                       ("fetch_feedback", "ExchangeFetchFeedback"), ("release_assignment", "ExchangeReleaseAssignment"),
                       ("release_feedback", "ExchangeReleaseFeedback"), ("list", "ExchangeList"),
                       ("submit", "ExchangeSubmit"), ("collect", "ExchangeCollect")):
        setattr(c.ExchangeFactory, trait, f"{__name__}.{cls}")
    c.CourseExchange.identity = identity


def format_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime(TIME_FORMAT)


def read_time(folder) -> dt.datetime | None:
    """The time in a submitted folder's ``timestamp.txt``, or None when missing or malformed."""
    try:
        return parse_utc(open(os.path.join(folder, "timestamp.txt")).read().strip())
    except (OSError, ValueError, OverflowError):
        return None


def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


class CourseExchange(default.Exchange):
    """What every command of the course's exchange shares."""

    identity = Enum(["owner", "mount"], "owner", help=(
        "owner: a student's folder and files must belong to that student's Unix account (one machine). "
        "mount: the hub mounts only the student's own folders into their server (Kubernetes; hub/z2jh)")).tag(config=True)
    max_file_mb = Float(20.0, help="The largest file a submission may hold (MB)").tag(config=True)
    max_submission_mb = Float(100.0, help="The most a submission may hold in all (MB)").tag(config=True)
    max_entries = Integer(500, help="The most files and folders in a submission").tag(config=True)
    clock_skew = Float(300.0, help="Seconds a submission's time may lie ahead of this machine's clock").tag(config=True)

    def folder(self, kind: str = "", student: str = "") -> str:
        """``<root>/<course>[/<kind>[/<student>]]``"""
        return os.path.join(self.root, self.coursedir.course_id, kind, student).rstrip(os.sep)

    def limits(self) -> snapshot.Limits:
        return snapshot.Limits(int(self.max_file_mb * snapshot.MB), int(self.max_submission_mb * snapshot.MB),
                               self.max_entries)

    def me(self) -> str:
        """The student this process acts for: its Unix account, or on Kubernetes the hub's user."""
        name = user_name(os.geteuid()) or str(os.geteuid())
        if self.identity == "mount":
            return os.environ.get("JUPYTERHUB_USER", name)
        return name

    def check_myself(self) -> str:
        me = self.me()
        claimed = self.coursedir.student_id
        if claimed not in ("", "*", me):
            self.fail(f"You are {me}: you cannot act as student {claimed!r} (the exchange knows who you are).")
        return me

    def ensure_root(self):
        """The exchange's root must exist and be traversable (it need not be writable any more)."""
        if not os.path.isdir(self.root) or not os.access(self.root, os.X_OK):
            self.fail(f"The exchange {self.root} does not exist or cannot be entered: ask your instructor "
                      "(genlearn-course setup makes it)")

    def start(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        return super().start()  # nbgrader's own start (it calls ensure_root, ours), and list's return value


class ExchangeReleaseAssignment(CourseExchange, default.ExchangeReleaseAssignment):
    def ensure_root(self):
        CourseExchange.ensure_root(self)

    def _folder(self, path: str, mode: int) -> None:
        """Make ``path`` with ``mode`` if missing; an existing one must be root's or ours."""
        if not os.path.isdir(path):
            try:
                os.mkdir(path)
                os.chmod(path, mode)
            except PermissionError:
                self.fail(f"Cannot create {path}: ask whoever runs the machine to run `genlearn-course setup`")
            return
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or st.st_uid not in (0, os.geteuid()):
            self.fail(f"{path} belongs to {user_name(st.st_uid)}, not to root or you: refusing to release into it")

    def init_dest(self):
        self._folder(self.folder(), COURSE_MODE)
        self._folder(self.folder("outbound"), OUTBOUND_MODE)
        self._folder(self.folder("inbound"), OPEN_INBOUND_MODE)
        self._folder(self.folder("feedback"), FEEDBACK_MODE)
        self.outbound_path, self.inbound_path = self.folder("outbound"), self.folder("inbound")
        self.dest_path = os.path.join(self.outbound_path, self.coursedir.assignment_id)


class ExchangeFetchAssignment(CourseExchange, default.ExchangeFetchAssignment):
    pass


class ExchangeSubmit(CourseExchange, default.ExchangeSubmit):
    def init_dest(self):
        if not self.authenticator.has_access(self.coursedir.student_id, self.coursedir.course_id):
            self.fail("You do not have access to this course.")
        me = self.check_myself()
        self.student_path = self.folder("inbound", me)
        if not os.path.lexists(self.student_path):
            try:  # no root made it: the inbound folder is open (sticky) and we make our own
                os.mkdir(self.student_path, 0o700)
                os.chmod(self.student_path, STUDENT_INBOUND_MODE)
            except OSError:
                self.fail(f"The exchange has no folder for you ({self.student_path}): ask your instructor to "
                          "add you to the course (genlearn-course setup --roster)")
        st = os.lstat(self.student_path)
        if not stat.S_ISDIR(st.st_mode) or (self.identity == "owner" and st.st_uid != os.geteuid()):
            self.fail(f"{self.student_path} is not your folder (it belongs to {user_name(st.st_uid)}): "
                      "tell your instructor; nothing was submitted")
        self.cache_path = os.path.join(self.cache, self.coursedir.course_id)
        self.token = secrets.token_urlsafe(12)
        self.assignment_filename = "{}+{}+{}".format(me, self.coursedir.assignment_id, self.timestamp)

    def copy_files(self):
        self.init_release()
        self.check_filename_diff()
        name = f"{self.coursedir.assignment_id}+{self.token}"
        tmp, dest = os.path.join(self.student_path, f".tmp-{name}"), os.path.join(self.student_path, name)
        secret = secrets.token_hex(64)
        self.log.info("Source: %s", self.src_path)
        self.log.info("Destination: %s", dest)
        skipped = _copy_own_files(self.src_path, tmp, self.coursedir, self.limits())
        for rel, why in skipped:
            self.log.warning("Not submitted: %s (%s)", rel, why)
        with open(os.path.join(tmp, "submission_secret.txt"), "w") as f:
            f.write(secret)
        for top, dirs, files in os.walk(tmp):
            os.chmod(top, SUBMISSION_DIR_MODE)
            for f in files:
                os.chmod(os.path.join(top, f), SUBMISSION_FILE_MODE)
        os.rename(tmp, dest)  # collect sees a submission whole or not at all
        # The student's own record (nbgrader's cache): what the Assignments tab and fetch_feedback read.
        cache = os.path.join(self.cache_path, self.assignment_filename)
        os.makedirs(self.cache_path, exist_ok=True)
        _copy_own_files(self.src_path, cache, self.coursedir, self.limits())
        for fname, text in (("timestamp.txt", self.timestamp), ("submission_secret.txt", secret)):
            with open(os.path.join(cache, fname), "w") as f:
                f.write(text)
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, self.coursedir.assignment_id, self.timestamp)


def _copy_own_files(src: str, dest: str, coursedir, limits: snapshot.Limits) -> list:
    """Copy the student's own folder ``src`` to a new folder ``dest``: regular files only (links
    and special files are left out and returned), nbgrader's ignore patterns and size limits."""
    snap = snapshot.take(src, os.geteuid(), limits, skip=_ignored(coursedir))
    os.makedirs(dest, mode=0o700)
    for rel in snap.folders:
        os.makedirs(os.path.join(dest, rel), mode=0o700, exist_ok=True)
    for rel, data in snap.files.items():
        with open(os.path.join(dest, rel), "xb") as f:
            f.write(data)
    return snap.refused


def _ignored(coursedir):
    patterns = list(coursedir.ignore or [])

    def skip(rel, name, st):
        import fnmatch

        return any(fnmatch.fnmatch(name, p) for p in patterns) or name.startswith(".tmp-")
    return skip


class ExchangeCollect(CourseExchange, default.ExchangeCollect):
    """Collect the newest submission of each student, attributed by the exchange, not the student."""

    def init_src(self):
        self.inbound_path = self.folder("inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not os.access(self.inbound_path, os.R_OK | os.X_OK):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        self.report = {"assignment": self.coursedir.assignment_id, "collected": {}, "refused": {}, "not_a_student": []}
        wanted = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else None
        names = [wanted] if wanted else sorted(os.listdir(self.inbound_path))
        duedate = self._duedate()
        self.src_records = []
        for name in names:
            if not STUDENT_ID.fullmatch(name) or name.startswith("."):
                self.report["not_a_student"].append(name)
                self.log.warning("REFUSED inbound/%s: not a student's folder (nbgrader's old layout, or planted)", name)
                continue
            try:
                record = self._newest(name, duedate)
            except snapshot.Refused as exc:
                self._refuse(name, f"inbound/{name}", str(exc))
                continue
            except OSError as exc:  # e.g. a student who made their own folder unreadable
                self._refuse(name, f"inbound/{name}", f"cannot be read ({exc.strerror})")
                continue
            if record is not None:
                self.src_records.append(record)

    def _duedate(self):
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                return gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None

    def _refuse(self, student: str, what: str, why: str) -> None:
        self.report["refused"].setdefault(student, []).append(f"{what}: {why}")
        self.log.warning("REFUSED %s / %s: %s: %s", student, self.coursedir.assignment_id, what, why)

    def _student_uid(self, name: str, folder_stat) -> int:
        if self.identity == "mount":
            return folder_stat.st_uid
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            raise snapshot.Refused(f"there is no account named {name}") from None
        if folder_stat.st_uid != uid:
            raise snapshot.Refused(f"the folder belongs to {user_name(folder_stat.st_uid)}, not to {name}")
        return uid

    def _newest(self, name: str, duedate):
        """The submissions of this assignment in ``inbound/<name>``, newest first (with
        --before-duedate, the newest on time first), timed without reading them; only the one
        taken is read (in :meth:`copy_files`)."""
        folder = self.folder("inbound", name)
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            raise snapshot.Refused("not a folder (" + snapshot._kind(st.st_mode) + ")")
        uid = self._student_uid(name, st)
        now = time.time()
        timed = []
        entries = sorted(os.listdir(folder))
        if len(entries) > MAX_SUBMISSIONS:
            self._refuse(name, f"inbound/{name}", f"{len(entries)} entries: only the {MAX_SUBMISSIONS} newest are looked at")
            entries = sorted(entries, key=lambda e: os.lstat(os.path.join(folder, e)).st_ctime)[-MAX_SUBMISSIONS:]
        for entry in entries:
            m = SUBMISSION.fullmatch(entry)
            if entry.startswith(".tmp-"):
                continue  # a submission still being written
            if not m:
                self._refuse(name, entry, "not a submission made by `nbgrader submit`")
                continue
            if m["assignment"] != self.coursedir.assignment_id:
                continue
            try:
                when = snapshot.newest_time(os.path.join(folder, entry), uid, self.limits())
            except snapshot.Refused as exc:
                self._refuse(name, entry, str(exc))
                continue
            if when > now + self.clock_skew:
                self._refuse(name, entry, f"its time {format_time(when)} is in the future")
                continue
            timed.append((when, entry))
        if not timed:
            return None
        timed.sort(reverse=True)
        if self.before_duedate and duedate is not None:
            due = duedate.replace(tzinfo=dt.timezone.utc).timestamp()
            timed.sort(key=lambda t: (t[0] > due, -t[0]))
        return {"username": name, "candidates": timed, "uid": uid}

    def _take(self, rec):
        """Read the first of a student's candidates that can be taken; None when none can."""
        name = rec["username"]
        for when, entry in rec["candidates"]:
            try:
                snap = snapshot.take(self.folder("inbound", name) + os.sep + entry, rec["uid"], self.limits())
            except (snapshot.Refused, OSError) as exc:
                self._refuse(name, entry, str(exc))
                continue
            if snap.time > time.time() + self.clock_skew:
                self._refuse(name, entry, f"its time {format_time(snap.time)} is in the future")
                continue
            for rel, why in snap.refused:
                self._refuse(name, f"{entry}/{rel}", why + " (left out)")
            return entry, parse_utc(format_time(snap.time)), snap
        return None

    def copy_files(self):
        if not self.src_records:
            self.log.warning("No submissions of '%s' for course '%s' to collect",
                             self.coursedir.assignment_id, self.coursedir.course_id)
        for rec in self.src_records:
            student = rec["username"]
            dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, self.coursedir.assignment_id)
            existing = read_time(dest) if os.path.isdir(dest) else None
            if os.path.isdir(dest) and not self.update and not self.before_duedate:
                self.log.info("Submission already exists, use --update to update: %s %s", student, self.coursedir.assignment_id)
                continue
            newest = parse_utc(format_time(rec["candidates"][0][0]))
            if existing is not None and newest <= existing and not self.before_duedate:
                self.log.info("No newer submission to collect: %s %s", student, self.coursedir.assignment_id)
                continue
            taken = self._take(rec)   # one student's submission in memory at a time
            if taken is None:
                continue
            entry, when, snap = taken
            self._write(dest, snap, when)
            self.report["collected"][student] = {"submission": entry, "time": format_time(when.replace(tzinfo=dt.timezone.utc).timestamp()),
                                                 "files": sorted(snap.files)}
            self.log.info("Collected %s %s (%s)", student, self.coursedir.assignment_id, when)
        self._write_report()

    def _write(self, dest: str, snap: snapshot.Snapshot, when: dt.datetime) -> None:
        """Write the snapshot as ``dest`` (complete or not at all), with the exchange's time."""
        parent = os.path.dirname(dest)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".collect-{os.path.basename(dest)}-{secrets.token_hex(4)}")
        os.mkdir(tmp)
        for rel in snap.folders:
            os.makedirs(os.path.join(tmp, rel), exist_ok=True)
        for rel, data in snap.files.items():
            if rel in OURS:
                continue
            with open(os.path.join(tmp, rel), "xb") as f:
                f.write(data)
        with open(os.path.join(tmp, "timestamp.txt"), "w") as f:
            f.write(format_time(when.replace(tzinfo=dt.timezone.utc).timestamp()))
        if self.coursedir.groupshared:
            for top, _, files in os.walk(tmp):
                os.chmod(top, 0o2770)
                for f in files:
                    os.chmod(os.path.join(top, f), 0o660)
        if os.path.isdir(dest):
            old = tmp + ".old"
            os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old)
        else:
            os.rename(tmp, dest)

    def _write_report(self) -> None:
        refused = self.report["refused"]
        if refused or self.report["not_a_student"]:
            self.log.warning("collect refused something from %d student(s); see %s", len(refused), self.report_path())
        path = self.report_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.report, f, indent=1)

    def report_path(self) -> str:
        return os.path.join(self.coursedir.root, "logs", "collect", f"{self.coursedir.assignment_id}.json")


class ExchangeReleaseFeedback(CourseExchange, default.ExchangeReleaseFeedback):
    """Each student's feedback into their own folder: the HTML of the notebooks they submitted."""

    def init_dest(self):
        self.dest_root = self.folder("feedback")
        if not os.path.isdir(self.dest_root):
            self.fail(f"{self.dest_root} is missing: release the assignment first (or rerun genlearn-course setup)")

    def copy_files(self):
        excluded = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pattern = self.coursedir.format_path(self.coursedir.feedback_directory, "*", self.coursedir.assignment_id)
        wanted = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else None
        for folder in sorted(glob.glob(pattern)):
            student = os.path.basename(os.path.dirname(folder))
            if (wanted and student != wanted) or student in excluded or not STUDENT_ID.fullmatch(student):
                continue
            submitted = self.coursedir.format_path(self.coursedir.submitted_directory, student, self.coursedir.assignment_id)
            notebooks = [os.path.splitext(n)[0] for n in find_all_notebooks(submitted)] if os.path.isdir(submitted) else []
            try:
                secret = _regular_text(os.path.join(folder, "submission_secret.txt"))
            except OSError as exc:
                self.log.warning("No feedback released for %s: %s", student, exc)
                continue
            for nb in notebooks:
                html = os.path.join(folder, f"{nb}.html")
                try:
                    data = _regular_bytes(html, int(self.max_file_mb * snapshot.MB))
                    self._put(student, f"{notebook_hash(secret=secret, notebook_id=nb)}.html", data)
                except (OSError, ExchangeError) as exc:  # one student's folder never stops the class
                    self.log.warning("No feedback released for %s / %s: %s", student, nb, exc)
                    continue
                self.log.info("Releasing feedback for student '%s' on assignment '%s/%s/%s'",
                              student, self.coursedir.course_id, self.coursedir.assignment_id, nb)

    def _put(self, student: str, name: str, data: bytes) -> None:
        folder = self.folder("feedback", student)
        if not os.path.isdir(folder):
            # Made by setup as root (the student's, group: instructors). Without root: a folder
            # nobody else may list, and file names only the student's own secret gives.
            os.mkdir(folder)
            os.chmod(folder, 0o2711)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode):
            raise ExchangeError(f"{folder} is not a folder")
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(folder, name))  # replaces a planted link, never follows it


def _regular_bytes(path: str, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        return os.read(fd, limit + 1)[:limit]
    finally:
        os.close(fd)


def _regular_text(path: str) -> str:
    return _regular_bytes(path, 4096).decode("utf-8", "replace").strip()


class ExchangeFetchFeedback(CourseExchange, default.ExchangeFetchFeedback):
    """Fetch my feedback from my own feedback folder."""

    def init_src(self):
        me = self.check_myself()
        self.src_path = self.folder("feedback", me)
        self.cache_path = os.path.join(self.cache, self.coursedir.course_id)
        if not os.path.isdir(self.src_path):
            self.fail(f"No feedback for you yet ({self.src_path} does not exist)")
        aid = self.coursedir.assignment_id or "*"
        self.feedback_files = []
        for sub in sorted(glob.glob(os.path.join(self.cache_path, f"*+{aid}+*"))):
            parts = os.path.basename(sub).split("+")
            if len(parts) != 3:
                continue
            _, assignment, timestamp = parts
            try:
                secret = _regular_text(os.path.join(sub, "submission_secret.txt"))
            except OSError:
                continue
            for nb in glob.glob(os.path.join(sub, "*.ipynb")):
                nb_id = os.path.splitext(os.path.basename(nb))[0]
                path = os.path.join(self.src_path, f"{notebook_hash(secret=secret, notebook_id=nb_id)}.html")
                if os.path.isfile(path):
                    self.feedback_files.append((nb_id, timestamp, path))
                    self.log.info("Found feedback for '%s/%s/%s' submitted at %s",
                                  self.coursedir.course_id, assignment, nb_id, timestamp)

    def do_copy(self, src, dest):
        for nb_id, timestamp, path in self.feedback_files:
            target = os.path.join(dest, timestamp)
            os.makedirs(target, exist_ok=True)
            with open(os.path.join(target, f"{nb_id}.html"), "wb") as f:
                f.write(_regular_bytes(path, int(self.max_file_mb * snapshot.MB)))
            self.log.info("Fetched feedback: %s", os.path.join(target, f"{nb_id}.html"))


class ExchangeList(CourseExchange, default.ExchangeList):
    """nbgrader's list, with feedback looked up in the student's own feedback folder."""

    def parse_assignments(self):
        assignments = super().parse_assignments()
        if not self.cached:
            return assignments
        mine = self.folder("feedback", self.me())
        for group in assignments:
            for info in group.get("submissions", []):
                secret_path = os.path.join(info["path"], "submission_secret.txt")
                secret = _regular_text(secret_path) if os.path.isfile(secret_path) else None
                for nb in info["notebooks"]:
                    path = os.path.join(mine, f"{notebook_hash(secret=secret, notebook_id=nb['notebook_id'])}.html") if secret else ""
                    nb["has_exchange_feedback"] = bool(path) and os.path.isfile(path)
                    if nb["has_exchange_feedback"] and nb["has_local_feedback"]:
                        with open(path, "rb") as a, open(nb["local_feedback_path"], "rb") as b:
                            nb["feedback_updated"] = a.read() != b.read()
                nbs = info["notebooks"]
                info["has_exchange_feedback"] = bool(nbs) and all(n["has_exchange_feedback"] for n in nbs)
                info["feedback_updated"] = any(n["feedback_updated"] for n in nbs)
        return assignments
