"""A hostile student against the course's exchange, on one machine, with real Unix accounts.

An instructor (in the instructors' group) and three students (two honest, one, "eve",
hostile) work through nbgrader's real commands, each as their own account, on a course and
exchange made by ``genlearn-course setup`` run as root. Eve tries every attack of issue 21
(and some of our own) through those commands and the file system; each test checks that the
attack is refused, reported where the instructor reads it, and costs the honest students
nothing. Each of them fails with nbgrader's own exchange (what the course used before).

Needs root (skips without it, fails under CI). About 1 minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

import exchange_support as xs
import grading_tools as gt
from genlearn.course import snapshot

pytestmark = pytest.mark.grading
AID = "ex01_likelihood"


@pytest.fixture(scope="module")
def klass():
    xs.need_root()
    k = xs.Klass()
    try:
        roster = k.work / "roster.csv"
        roster.write_text("id,first_name,last_name,email\n" + "".join(
            f"{sid},{n},Student,{sid}@example.org\n" for n, sid in k.students.items()))
        proc = subprocess.run([f"{k.bin}/genlearn-course", "setup", str(k.course), "--source", str(gt.ROOT),
                               "--exchange", str(k.exchange), "--assignment", AID, "--roster", str(roster),
                               "--group", k.group], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        k.setup = json.loads(proc.stdout)
        # The release as generate_assignment makes it (exercises/ is kept equal to it by test_grading).
        shutil.copytree(gt.RELEASE / AID, k.course / "exercises" / AID)
        subprocess.run(["chown", "-R", f"root:{k.group}", str(k.course / "exercises")], check=True)
        subprocess.run(["chmod", "-R", "g+rwX", str(k.course / "exercises")], check=True)
        k.ok(k.instructor, f"nbgrader release_assignment {AID}", cwd=k.course)
        for user in k.students.values():
            k.student_config(user)
            k.ok(user, f"nbgrader fetch_assignment {AID}")
        yield k
    finally:
        k.close()


def _solve(k, user: str, wrong: bool = False) -> None:
    """Write a solved (or partly wrong) notebook into the student's fetched folder."""
    source = nbformat.read(gt.SOURCE / AID / f"{AID}.ipynb", 4)
    path = k.home(user) / AID / f"{AID}.ipynb"
    nb = gt.student_notebook(source, nbformat.read(gt.RELEASE / AID / f"{AID}.ipynb", 4))
    if wrong:
        nb = gt.apply_edits(nb, gt.load_fixtures(AID).SUBMISSIONS["unbiased-variance"])
    nbformat.write(nb, str(path))
    os.chown(path, k.uid(user), k.uid(user))


def _eve(k) -> str:
    return k.students["eve"]


def _inbound(k, user: str) -> Path:
    return k.exchange / "genlearn" / "inbound" / user


def _collect(k, *extra: str) -> subprocess.CompletedProcess:
    return k.ok(k.instructor, f"nbgrader collect {AID} {' '.join(extra)}", cwd=k.course)


def _report(k) -> dict:
    return json.loads((k.course / "logs" / "collect" / f"{AID}.json").read_text())


def _submitted(k, user: str) -> Path:
    return k.course / "submitted" / user / AID


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_setup_gives_each_student_a_private_folder(klass):
    k = klass
    assert k.setup["exchange_folders"]["student_folders"] == 3 and k.setup["exchange_folders"]["private"]
    inbound = k.exchange / "genlearn" / "inbound"
    assert stat.S_IMODE(inbound.stat().st_mode) & 0o007 == 0o001, "students may pass through inbound, not list or write it"
    for user in k.students.values():
        st = _inbound(k, user).stat()
        assert st.st_uid == k.uid(user) and stat.S_IMODE(st.st_mode) & 0o007 == 0
    assert stat.S_IMODE(k.exchange.stat().st_mode) == 0o755


def test_honest_students_submit_and_are_collected(klass):
    k = klass
    s1, s2 = k.students["s1"], k.students["s2"]
    _solve(k, s1)
    _solve(k, s2, wrong=True)
    for user in (s1, s2):
        k.ok(user, f"nbgrader submit {AID}")
    _collect(k)
    for user in (s1, s2):
        nb = _submitted(k, user) / f"{AID}.ipynb"
        assert nb.exists() and nb.read_bytes() == (k.home(user) / AID / f"{AID}.ipynb").read_bytes()
        stamp = (_submitted(k, user) / "timestamp.txt").read_text()
        when = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) - time.timezone
        assert abs(when - time.time()) < 600, f"the exchange's time of {user}'s submission is {stamp}"


def test_submit_in_another_students_name_is_refused(klass):
    k = klass
    eve, victim = _eve(k), k.students["s1"]
    before = (_submitted(k, victim) / f"{AID}.ipynb").read_bytes()
    (k.home(eve) / AID / f"{AID}.ipynb").write_text("{}")  # an empty notebook: zero marks
    proc = k.run(eve, f"nbgrader submit {AID} --student {victim}")
    assert proc.returncode != 0 and "cannot act as student" in proc.stderr + proc.stdout
    # Straight into the victim's folder, or into inbound under the victim's name: the kernel says no.
    for target in (_inbound(k, victim) / f"{AID}+AAAAAAAAAAAA", k.exchange / "genlearn" / "inbound" / f"{victim}+{AID}+x"):
        proc = k.run(eve, f"mkdir '{target}'")
        assert proc.returncode != 0 and "Permission denied" in proc.stderr
    _collect(k, "--update")
    assert (_submitted(k, victim) / f"{AID}.ipynb").read_bytes() == before, "the victim's submission changed"


def test_planted_future_submission_does_not_win(klass):
    """nbgrader's exchange: a folder named ...+2099-01-01... beats every later real submission."""
    k = klass
    eve = _eve(k)
    proc = k.run(eve, f"mkdir -p '{_inbound(k, eve)}/{AID}+2099-01-01 00:00:00.000000 UTC+zzzzzzzzzzzz'")
    assert proc.returncode == 0
    planted = _inbound(k, eve) / f"{AID}+FutureFutureFuture"
    k.ok(eve, f"mkdir '{planted}' && cp ~/{AID}/{AID}.ipynb '{planted}/' && echo '2099-01-01 00:00:00.000000 UTC' > "
              f"'{planted}/timestamp.txt' && touch -d 2099-01-01 '{planted}' '{planted}'/* && chmod -R g+rX '{planted}'")
    log = _collect(k, "--update").stderr
    assert (_submitted(k, eve) / "timestamp.txt").exists(), log[-3000:]
    stamp = (_submitted(k, eve) / "timestamp.txt").read_text()
    assert not stamp.startswith("2099"), f"the student's own time was believed: {stamp}"
    assert any("not a submission made by" in r for r in _report(k)["refused"][eve])
    # A later honest resubmission of eve's replaces it: the exchange's time orders them.
    time.sleep(1.1)
    _solve(k, eve)
    k.ok(eve, f"nbgrader submit {AID}")
    _collect(k, "--update")
    assert (_submitted(k, eve) / f"{AID}.ipynb").read_bytes() == (k.home(eve) / AID / f"{AID}.ipynb").read_bytes()


def test_links_to_solutions_and_gradebook_are_refused_and_reported(klass):
    k = klass
    eve = _eve(k)
    solution = k.course / "solutions" / AID / f"{AID}.ipynb"
    sub = _inbound(k, eve) / f"{AID}+LinkLinkLinkLink"
    k.ok(eve, f"mkdir '{sub}' && ln -s '{solution}' '{sub}/{AID}.ipynb' && ln -s '{k.course}/gradebook.db' '{sub}/gradebook.db'"
              f" && ln -s '{solution}' '{sub}/notes.html' && mkfifo '{sub}/pipe' && truncate -s 2G '{sub}/sparse.bin'"
              f" && python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('{sub}/sock')\" && chmod g+rx '{sub}'")
    # A hard link to a file eve does not own (fs.protected_hardlinks stops eve making one;
    # root plays a machine without it), and a character device.
    os.link(k.course / "nbgrader_config.py", sub / "config.py")
    os.mknod(sub / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    start = time.perf_counter()
    _collect(k, "--update")
    assert time.perf_counter() - start < 60, "collect stalled (a FIFO?)"
    refused = "\n".join(_report(k)["refused"][eve])
    for name, why in ((f"{AID}.ipynb", "symbolic link"), ("gradebook.db", "symbolic link"), ("notes.html", "symbolic link"),
                      ("pipe", "FIFO"), ("sock", "socket"), ("sparse.bin", "more than"), ("config.py", "owned by root"),
                      ("null", "owned by root")):
        assert f"{name}: " in refused and why in refused.split(f"{name}: ")[1].splitlines()[0], (name, refused)
    got = _submitted(k, eve)
    assert not any(p.is_symlink() for p in got.rglob("*"))
    assert sorted(p.name for p in got.iterdir()) == ["submission_secret.txt", "timestamp.txt"] or \
        not (got / f"{AID}.ipynb").exists()
    text = _all_text(got)
    assert "### BEGIN SOLUTION" not in text and "SQLite format" not in text


def test_nobody_reads_replaces_or_deletes_another_students_submission_or_feedback(klass):
    k = klass
    eve, victim = _eve(k), k.students["s2"]
    entry = next(p for p in _inbound(k, victim).iterdir())   # eve is told the name
    for command in (f"ls '{_inbound(k, victim)}'", f"cat '{entry}/{AID}.ipynb'", f"rm -rf '{entry}'",
                    f"mv '{entry}' /tmp/x", f"touch '{entry}/x'", f"ls '{k.exchange}/genlearn/inbound'",
                    f"ls '{k.exchange}/genlearn/feedback/{victim}'", f"touch '{k.exchange}/genlearn/feedback/{victim}/x.html'",
                    f"rm -rf '{k.exchange}/genlearn/feedback/{victim}'", f"touch '{k.exchange}/genlearn/outbound/{AID}/x'"):
        proc = k.run(eve, command)
        assert proc.returncode != 0 and ("Permission denied" in proc.stderr or "Operation not permitted" in proc.stderr), \
            f"eve could `{command}`: {proc.returncode} {proc.stderr[:300]}"
    assert entry.exists()


def test_malformed_timestamps_never_stop_collect(klass):
    """nbgrader's exchange: a student's timestamp.txt of 'garbage' crashed `collect --update` for
    everyone (AttributeError: 'CourseDirectory' object has no attribute 'fail')."""
    k = klass
    eve = _eve(k)
    k.ok(eve, f"echo garbage > ~/{AID}/timestamp.txt && nbgrader submit {AID}")
    (_submitted(k, k.students["s1"]) / "timestamp.txt").write_text("not a time")  # even on the instructor's side
    proc = _collect(k, "--update")
    assert "Traceback" not in proc.stderr
    assert (_submitted(k, eve) / "timestamp.txt").read_text()[:2] == "20"
    assert (_submitted(k, k.students["s1"]) / "timestamp.txt").read_text()[:2] == "20"


def test_a_broken_student_folder_is_reported_and_the_class_is_collected(klass):
    k = klass
    eve, s1 = _eve(k), k.students["s1"]
    theirs = _inbound(k, eve)
    saved = theirs.with_name(theirs.name + ".saved")
    os.rename(theirs, saved)
    try:
        os.symlink(_inbound(k, s1), theirs)   # eve's folder replaced by a link to s1's
        os.lchown(theirs, k.uid(eve), k.uid(eve))
        shutil.rmtree(_submitted(k, s1))
        _collect(k)
        assert (_submitted(k, s1) / f"{AID}.ipynb").exists(), "the rest of the class was not collected"
        assert any("not a folder" in r for r in _report(k)["refused"][eve])
    finally:
        os.unlink(theirs)
        os.rename(saved, theirs)


def test_a_student_who_locks_their_own_folders_stops_nobody_else(klass):
    """Our own attack: eve makes her inbound and feedback folders unreadable to the instructors;
    collect and release_feedback report her and go on with the class."""
    k = klass
    eve, s1 = _eve(k), k.students["s1"]
    for kind in ("inbound", "feedback"):
        k.ok(eve, f"chmod 000 {k.exchange}/genlearn/{kind}/{eve}")
    try:
        shutil.rmtree(_submitted(k, s1))
        proc = _collect(k)
        assert (_submitted(k, s1) / f"{AID}.ipynb").exists() and "Traceback" not in proc.stderr
        assert any("cannot be read" in r for r in _report(k)["refused"][eve])
        folder = k.course / "feedback" / s1 / AID
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("submission_secret.txt", "timestamp.txt"):
            shutil.copy(_submitted(k, s1) / name, folder)
        (folder / f"{AID}.html").write_text("<p>ok</p>")
        efolder = k.course / "feedback" / eve / AID
        efolder.mkdir(parents=True, exist_ok=True)
        shutil.copy(_submitted(k, s1) / "submission_secret.txt", efolder)
        (efolder / f"{AID}.html").write_text("<p>eve</p>")
        shutil.copy(_submitted(k, s1) / f"{AID}.ipynb", _submitted(k, eve) / f"{AID}.ipynb") \
            if not (_submitted(k, eve) / f"{AID}.ipynb").exists() else None
        subprocess.run(["chown", "-R", f"{k.instructor}:{k.group}", str(k.course / "feedback"), str(k.course / "submitted")],
                       check=True)
        released = k.ok(k.instructor, f"nbgrader release_feedback {AID}", cwd=k.course)
        assert f"No feedback released for {eve}" in released.stderr
        assert list((k.exchange / "genlearn" / "feedback" / s1).glob("*.html"))
    finally:
        for kind, mode in (("inbound", 0o2750), ("feedback", 0o2770)):  # as setup made them (root keeps setgid)
            os.chmod(k.exchange / "genlearn" / kind / eve, mode)
        shutil.rmtree(k.course / "feedback", ignore_errors=True)


def test_feedback_goes_only_to_its_student_and_only_as_feedback(klass):
    k = klass
    users = list(k.students.values())
    _collect(k, "--update")
    for user in users:  # what generate_feedback leaves, plus a planted extra page
        folder = k.course / "feedback" / user / AID
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(_submitted(k, user) / "submission_secret.txt", folder)
        shutil.copy(_submitted(k, user) / "timestamp.txt", folder)
        (folder / f"{AID}.html").write_text(f"<p>feedback for {user}</p>")
        (folder / "notes.html").write_text("<p>not feedback</p>")
    subprocess.run(["chown", "-R", f"{k.instructor}:{k.group}", str(k.course / "feedback")], check=True)
    eve = _eve(k)
    # eve plants a link named like her own feedback file, pointing at the gradebook.
    for p in (k.exchange / "genlearn" / "feedback" / eve).iterdir():
        p.unlink()
    k.ok(k.instructor, f"nbgrader release_feedback {AID}", cwd=k.course)
    for user in users:
        files = list((k.exchange / "genlearn" / "feedback" / user).iterdir())
        assert len(files) == 1 and files[0].read_text() == f"<p>feedback for {user}</p>", files
        k.ok(user, f"nbgrader fetch_feedback {AID}")
        got = list((k.home(user) / AID / "feedback").rglob("*.html"))
        assert [p.read_text() for p in got] == [f"<p>feedback for {user}</p>"], got


def test_submit_copies_regular_files_only(klass):
    k = klass
    eve = _eve(k)
    before = set(_inbound(k, eve).iterdir())
    k.ok(eve, f"ln -sf /etc/passwd ~/{AID}/passwd && nbgrader submit {AID}")
    new = set(_inbound(k, eve).iterdir()) - before
    assert len(new) == 1, f"submit made {len(new)} submissions in eve's own folder"
    made = new.pop()
    assert (made / f"{AID}.ipynb").is_file() and not (made / "passwd").exists(), "submit followed a link"


# ----------------------------------------------------------------------------- snapshot races


def test_a_folder_swapped_for_a_link_while_it_is_read_is_refused(tmp_path):
    """The race of "a submission folder replaced by a link after collect started": the swap
    happens between the listing of an entry and its opening; it is refused, never followed."""
    sub = tmp_path / "sub"
    (sub / "inner").mkdir(parents=True)
    (sub / "inner" / "a.ipynb").write_text("{}")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answers.ipynb").write_text("SOLUTION")

    swapped = []

    def swap(rel, name, st):  # runs after the entry was listed and looked at, before it is opened
        if rel == "inner" and not swapped:
            shutil.rmtree(sub / "inner")
            os.symlink(secret, sub / "inner")
            swapped.append(rel)
        return False

    with pytest.raises(snapshot.Refused, match="kept changing"):
        snapshot.take(sub, os.geteuid(), tries=1, skip=swap)   # the change itself is seen
    swapped.clear()
    shutil.rmtree(sub)
    (sub / "inner").mkdir(parents=True)
    (sub / "inner" / "a.ipynb").write_text("{}")
    snap = snapshot.take(sub, os.geteuid(), skip=swap)          # read again: the link is refused
    assert swapped and not any(b"SOLUTION" in d for d in snap.files.values())
    assert ("inner", "a symbolic link") in snap.refused, snap.refused


def test_snapshot_limits_and_time(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    for i in range(600):
        (sub / f"f{i}").write_text("x")
    with pytest.raises(snapshot.Refused, match="more than 500"):
        snapshot.take(sub, os.geteuid())
    shutil.rmtree(sub)
    sub.mkdir()
    (sub / "a").write_text("x")
    os.utime(sub / "a", (4102444800, 4102444800))  # 2100: mtime is the user's to set, ctime is not
    snap = snapshot.take(sub, os.geteuid())
    assert abs(snap.time - time.time()) < 60 and snap.files == {"a": b"x"}
    with pytest.raises(snapshot.Refused, match="owned by"):
        snapshot.take(sub, os.geteuid() + 12345)


def test_mount_identity_attributes_by_folder(tmp_path):
    """Kubernetes (hub/z2jh): every pod runs as one uid, and the hub mounts only a student's
    own folder into their pod, so the folder is the identity. Everything here belongs to the
    one uid running the test; "mount" collects ada's submission as ada's, and refuses her
    links; "owner" (one machine) refuses it, as no account named ada owns it."""
    from genlearn.course import create

    course, exchange = tmp_path / "course", tmp_path / "exchange"
    create.create_course(create.CourseSpec(course, gt.ROOT, exchange=exchange, assignments=[AID]))
    sub = exchange / "genlearn" / "inbound" / "ada" / f"{AID}+MountMountMount1"
    sub.mkdir(parents=True)
    shutil.copy(gt.RELEASE / AID / f"{AID}.ipynb", sub)
    os.symlink(course / "gradebook.db", sub / "gradebook.db")
    for identity, collected in (("owner", False), ("mount", True)):
        proc = gt.nbgrader(["collect", AID, "--update", f"--CourseExchange.identity={identity}"], course)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert (course / "submitted" / "ada" / AID / f"{AID}.ipynb").exists() == collected, (identity, proc.stderr[-2000:])
        refused = "\n".join(_report_of(course)["refused"]["ada"])
        assert ("gradebook.db: a symbolic link" in refused) == collected
        assert ("no account named ada" in refused) != collected


def _report_of(course: Path) -> dict:
    return json.loads((course / "logs" / "collect" / f"{AID}.json").read_text())
