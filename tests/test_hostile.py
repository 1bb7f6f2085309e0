"""Hostile submissions against the course's real nbgrader configuration (sandbox and guard).

One course holds all assignments. Honest submissions (the solution and the untouched
release of each) are graded first, and a snapshot is taken of their grades and files, of
``solutions/`` and of the gradebook. Then the hostile submissions of
``tests/grading_fixtures/hostile.py`` are graded, one ``nbgrader autograde`` per assignment,
exactly as an instructor would run it. Each hostile submission must:

* be graded (nothing lost, nothing stalled);
* score 0 (what the untouched release scores) on the tests it attacks, and the base's
  score on the others;
* be reported as tampering when it tampers (report file and command line);
* leave the gradebook, ``solutions/`` and the honest submissions byte for byte as they were;
* leave no process running, no file outside its folder, and no connection made.

Also: autograde refuses with one line when no sandbox can be set up, grades when the
instructor allows it, and feedback never shows hidden tests' source.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

import grading_tools as gt
from grading_fixtures.hostile import ALL, HOSTILE

pytestmark = pytest.mark.grading

HONEST = ("solution", "release")
SLEEPER = "genlearn-hostile-sleeper"
PLANTED = "genlearn-hostile-planted.txt"


def _require_sandbox():
    from genlearn.grading.sandbox import Sandbox

    reason = Sandbox().unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"no grading sandbox under CI: {reason}")
        pytest.skip(f"no grading sandbox here: {reason}")


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _gradebook_rows(course: Path, students) -> list:
    with sqlite3.connect(course / "gradebook.db") as con:
        rows = con.execute(
            "SELECT sa.student_id, nb.name, c.name, g.auto_score, g.manual_score, g.extra_credit FROM grade g "
            "JOIN submitted_notebook sn ON g.notebook_id = sn.id JOIN notebook nb ON sn.notebook_id = nb.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id JOIN base_cell c ON g.cell_id = c.id "
            "ORDER BY 1, 2, 3").fetchall()
    return [r for r in rows if r[0] in students]


class _Listener(threading.Thread):
    """A server on the grader's loopback that no submission may reach."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections, self.stop = [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, addr = self.sock.accept()
                self.connections.append((addr, conn.recv(100)))
                conn.close()
            except OSError:
                continue


def _hostile_notebook(name: str, spec: dict, solved, release, port: int):
    base = solved if spec.get("base", "solved") == "solved" else release
    edits = {k: v for k, v in spec.items() if k in ("replace", "set", "stub", "delete")}
    edits["replace"] = [(g, o, n.replace("{PORT}", str(port))) for g, o, n in edits.get("replace", ())]
    edits["set"] = {g: s.replace("{PORT}", str(port)) for g, s in edits.get("set", {}).items()}
    nb = gt.apply_edits(base, edits, release)
    return gt.pasted_twice(gt.with_cell_metadata(nb, spec.get("cell_metadata", {})), spec.get("duplicate", ()))


def _write_submission(course: Path, aid: str, sid: str, spec: dict, nb) -> None:
    """The notebook, and whatever else the spec plants in the submission folder."""
    folder = course / "submitted" / sid / aid
    folder.mkdir(parents=True)
    fill = lambda text: text.replace("{COURSE}", str(course)).replace("{AID}", aid)  # noqa: E731
    if "notebook_link" in spec:
        os.symlink(fill(spec["notebook_link"]), folder / f"{aid}.ipynb")
    else:
        nbformat.write(nb, str(folder / f"{aid}.ipynb"))
    for name, text in spec.get("files", {}).items():
        (folder / name).write_text(text)
    for name, target in spec.get("links", {}).items():
        os.symlink(fill(target), folder / name)
    for name, size in spec.get("sparse", {}).items():
        with open(folder / name, "wb") as f:
            f.truncate(size)


def _processes(before: frozenset = frozenset()) -> list[str]:
    """Processes left by hostile code: the sleeper marker, or a sandbox uid. Processes in
    ``before`` (pid, start time) were running before this module graded anything: not ours;
    nor is a sandbox uid whose lease is still held (another grading on this machine is running:
    this module's own gradings have all ended, and a kernel cannot hold its grader's lease)."""
    from genlearn.grading.sandbox import Sandbox, UidLease

    sb, found = Sandbox(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            uid = entry.stat().st_uid
            started = (entry / "stat").read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            continue
        if (entry.name, started) in before:
            continue
        sandboxed = sb.uid_base <= uid < sb.uid_base + sb.uid_count
        if SLEEPER in cmd or (sandboxed and not _leased(UidLease.LOCK_DIR / f"{uid}.lock")):
            found.append(f"{entry.name} uid={uid} {cmd[:120]}")
    return found


def _leased(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this test just took


def _in_use(sandbox_dir: Path) -> bool:
    """A sandbox folder of a grading still running elsewhere on the machine: its kernel's uid
    (the owner of its ipc folder) is still leased."""
    from genlearn.grading.sandbox import UidLease

    try:
        uid = (sandbox_dir / "ipc").stat().st_uid
    except OSError:
        return False
    return uid != 0 and _leased(UidLease.LOCK_DIR / f"{uid}.lock")


def _pid_starts():
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield entry.name, (entry / "stat").read_text().rsplit(")", 1)[1].split()[19]
            except (OSError, IndexError):
                continue


@pytest.fixture(scope="module")
def battle(tmp_path_factory):
    _require_sandbox()
    sandbox_dirs = set(Path("/tmp").glob("glsbx-*"))
    running = frozenset(_pid_starts())
    course = gt.new_course(tmp_path_factory.mktemp("hostile") / "course")
    listener = _Listener()
    listener.start()
    notebooks = {}
    for aid in gt.ASSIGNMENTS:
        released = gt.generate(course, aid)
        source = nbformat.read(course / "solutions" / aid / f"{aid}.ipynb", 4)
        release = nbformat.read(released, 4)
        notebooks[aid] = (source, release, gt.student_notebook(source, release))
        for sid, nb in (("solution", source), ("release", release)):
            path = course / "submitted" / sid / aid / f"{aid}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(nb, str(path))
    _add_students(course, [*HONEST, *(_sid(name) for name in HOSTILE)])
    with ThreadPoolExecutor(max_workers=2) as pool:
        honest_runs = dict(zip(gt.ASSIGNMENTS, pool.map(
            lambda aid: _autograde(course, aid, [], timeout=900), gt.ASSIGNMENTS)))
    before = {"rows": _gradebook_rows(course, HONEST), "solutions": _tree_digest(course / "solutions"),
              "submitted": _tree_digest(course / "submitted"), "autograded": _tree_digest(course / "autograded")}

    for name, spec in HOSTILE.items():
        aid = spec["aid"]
        _, release, solved = notebooks[aid]
        _write_submission(course, aid, _sid(name), spec, _hostile_notebook(name, spec, solved, release, listener.port))
    runs, seconds = {}, {}

    def attack(aid):
        start = time.perf_counter()
        runs[aid] = _autograde(course, aid, ["--student", "hostile_*"], timeout=1800)
        seconds[aid] = time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=2) as pool:  # assignments with hostile submissions, two at a time
        list(pool.map(attack, sorted({spec["aid"] for spec in HOSTILE.values()})))
    time.sleep(1)
    listener.stop.set()
    after = {"rows": _gradebook_rows(course, HONEST), "solutions": _tree_digest(course / "solutions"),
             "submitted": {k: v for k, v in _tree_digest(course / "submitted").items()
                           if k.split("/")[0] in HONEST},
             "autograded": {k: v for k, v in _tree_digest(course / "autograded").items()
                            if k.split("/")[0] in HONEST}}
    with sqlite3.connect(course / "gradebook.db") as con:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    for aid, sec in seconds.items():
        n = sum(1 for s in HOSTILE.values() if s["aid"] == aid)
        print(f"hostile {aid}: {n} submissions graded in {sec:.1f} s, exit {runs[aid].returncode}")
    yield {"course": course, "notebooks": notebooks, "honest_runs": honest_runs, "runs": runs,
           "before": before, "after": after, "integrity": integrity, "listener": listener,
           "processes": _processes(running), "seconds": seconds,
           "left_dirs": [d for d in sorted(set(Path("/tmp").glob("glsbx-*")) - sandbox_dirs) if not _in_use(d)]}
    for line in _processes(running):  # never leave anything behind, even when a test failed
        os.kill(int(line.split()[0]), 9)


def _add_students(course: Path, students) -> None:
    """Every student in the gradebook before any autograde starts, so that two autogrades running
    at once never race to create the same student (as genlearn.course.parallel does)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genlearn") as gb:
        known = {s.id for s in gb.students}
        for sid in students:
            if sid not in known:
                gb.add_student(sid)


def _autograde(course: Path, aid: str, args: list[str], timeout: float):
    """``nbgrader autograde`` of one assignment. The battle runs two at a time (each keeps about one
    core busy: the kernels run one thread), which halves its wall time on 2 cores; both write the one
    gradebook, so each waits up to 60 s for the other's write instead of SQLite's 5 s."""
    db_url = f"sqlite:///{course / 'gradebook.db'}?timeout=60"
    return gt.nbgrader(["autograde", aid, *args, "--force", f"--CourseDirectory.db_url={db_url}"], course,
                       timeout=timeout)


def _sid(name: str) -> str:
    return f"hostile_{name.replace('-', '_')}"


def _graded(battle, name):
    spec = HOSTILE[name]
    aid, course = spec["aid"], battle["course"]
    path = course / "autograded" / _sid(name) / aid / f"{aid}.ipynb"
    if spec.get("ungraded"):  # refused before it ran: scored 0 in the gradebook, nothing written
        assert not path.exists()
        return nbformat.v4.new_notebook(), gt.scores(course, aid, _sid(name))
    assert path.exists(), f"{name} was not graded:\n{(battle['runs'][aid].stdout + battle['runs'][aid].stderr)[-3000:]}"
    return nbformat.read(path, 4), gt.scores(course, aid, _sid(name))


def _report(battle, name) -> dict:
    spec = HOSTILE[name]
    path = battle["course"] / "grading_reports" / spec["aid"] / _sid(name) / f"{spec['aid']}.json"
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------- honest grading


def test_honest_submissions_grade_as_before(battle):
    for aid in gt.ASSIGNMENTS:
        run = battle["honest_runs"][aid]
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        source = battle["notebooks"][aid][0]
        tests = gt.test_cells(source)
        assert {g: s for g, s in gt.scores(battle["course"], aid, "solution").items() if g in tests} == tests
        assert {s for g, s in gt.scores(battle["course"], aid, "release").items() if g in tests} == {0}
        for sid in HONEST:
            report = json.loads((battle["course"] / "grading_reports" / aid / sid / f"{aid}.json").read_text())
            assert report["sandboxed"] and not report["tampered"] and not report["static"], report


# ----------------------------------------------------------------------------- each hostile submission


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_is_graded_and_gains_nothing(battle, name):
    spec = HOSTILE[name]
    aid = spec["aid"]
    nb, scores = _graded(battle, name)
    tests = gt.test_cells(battle["notebooks"][aid][0])
    attacked = set(tests) if spec["attacks"] == ALL else set(spec["attacks"])
    base = "release" if spec.get("base", "solved") == "release" else "solution"
    base_scores = gt.scores(battle["course"], aid, base)
    for gid in tests:
        expected = 0 if gid in attacked else base_scores[gid]
        got = scores.get(gid, 0)
        if spec.get("self_harm") and gid not in attacked:
            assert got <= expected, f"{name}: {gid} scored {got}, more than its base's {expected}"
            continue
        assert got == expected, (
            f"{name}: {gid} scored {scores.get(gid)}, expected {expected}\n{gt.feedback_text(nb, gid)[-1500:]}"
            if gid in {c.metadata.get('nbgrader', {}).get('grade_id') for c in nb.cells} else f"{name}: {gid}")
    text = "\n".join(gt.ANSI.sub("", json.dumps(c.get("outputs", []))) for c in nb.cells)
    for needle in spec.get("absent", ()):
        assert needle not in text, f"{name}: its output says {needle!r}: the sandbox let it through"
    for needle in spec.get("present", ()):
        assert needle in text, f"{name}: expected {needle!r} in its output"
    if "says" in spec:
        said = [gt.feedback_text(nb, g) for g in attacked if g in gt.cells_by_id(nb)]
        assert any(spec["says"] in s for s in said), f"{name}: feedback should say {spec['says']!r}"
    if "max_notebook_mb" in spec:
        size = (battle["course"] / "autograded" / _sid(name) / aid / f"{aid}.ipynb").stat().st_size
        assert size < spec["max_notebook_mb"] * 2**20, f"{name}: graded notebook is {size / 2**20:.1f} MB"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_tampering_is_reported(battle, name):
    spec = HOSTILE[name]
    if spec.get("ungraded"):
        return
    report = _report(battle, name)
    assert report["sandboxed"]
    assert report["tampered"] == spec["tampers"], json.dumps(report, indent=1)[:3000]
    if spec.get("kernel_dies"):
        assert report["kernel_died"], report
    log = battle["runs"][spec["aid"]].stdout + battle["runs"][spec["aid"]].stderr
    if spec["tampers"]:
        assert f"TAMPERING {_sid(name)} / {spec['aid']}" in log, log[-3000:]
    assert not report["zeroed_tests"] and not report["grader_kernel_died"] and not report["grader_errors"], (
        "the grader's own kernel must never be disturbed by a submission", report)


def test_whole_hostile_batch_is_graded_without_stalling(battle):
    for aid, run in battle["runs"].items():
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        n = sum(1 for s in HOSTILE.values() if s["aid"] == aid)
        # a process left sleeping once held nbgrader for five minutes; the sandbox ends them all
        assert battle["seconds"][aid] < 90 * n, f"{aid}: {n} hostile submissions took {battle['seconds'][aid]:.0f} s"
    report = _report(battle, "ex02-detached-process")
    assert report["seconds"] < 60, report["seconds"]


# ----------------------------------------------------------------------------- nothing else changed


def test_solutions_gradebook_and_other_submissions_are_untouched(battle):
    before, after = battle["before"], battle["after"]
    assert after["solutions"] == before["solutions"]
    assert after["submitted"] == before["submitted"]
    assert after["autograded"] == before["autograded"]
    assert after["rows"] == before["rows"], "honest students' grades changed"
    assert battle["integrity"] == "ok"
    with sqlite3.connect(battle["course"] / "gradebook.db") as con:
        assert con.execute("SELECT COUNT(*) FROM grade WHERE manual_score = 100").fetchone()[0] == 0


def test_no_process_survives_grading(battle):
    assert battle["processes"] == [], "\n".join(battle["processes"])
    assert battle["left_dirs"] == [], "sandbox folders left behind"


def test_nothing_is_written_outside_the_submission_folder(battle):
    course = battle["course"]
    assert not list(course.rglob(PLANTED)) and not (Path("/tmp") / PLANTED).exists()
    assert not list(course.rglob("planted-in-own-folder.txt")), "a kernel's scratch folder reached the course"


def test_no_connection_reaches_the_grader(battle):
    assert battle["listener"].connections == []


def test_fork_storm_is_bounded(battle):
    nb, _ = _graded(battle, "ex05-fork-storm")
    text = gt.feedback_text(nb, "answer_accuracy")
    forked = int(text.split("FORKED")[1].split()[0])
    from genlearn.grading.sandbox import Sandbox

    assert forked < Sandbox().max_processes, f"{forked} processes: the process limit did not hold"


# ----------------------------------------------------------------------------- what leaves the sandbox


def _hidden_lines(source_nb) -> list[str]:
    return [line.strip() for c in source_nb.cells if "BEGIN HIDDEN TESTS" in c.source
            for line in c.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
            if len(line.strip()) > 25]


@pytest.mark.parametrize("name", sorted(n for n, s in HOSTILE.items() if s.get("no_hidden_source")))
def test_hidden_test_source_never_reaches_the_student(battle, name):
    """Code in the student's function looked for the running test's source (In, linecache,
    frames) and printed what it found: none of it is the hidden tests', in the graded notebook
    or in the feedback."""
    spec, course = HOSTILE[name], battle["course"]
    aid = spec["aid"]
    nb, _ = _graded(battle, name)
    outputs = "\n".join(json.dumps(c.get("outputs", [])) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                        or not c.metadata.get("nbgrader"))
    assert "STASH" in outputs, "the attack did not run: the test proves nothing"
    proc = gt.nbgrader(["generate_feedback", aid, "--student", _sid(name), "--force"], course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import html as html_module

    feedback = html_module.unescape((course / "feedback" / _sid(name) / aid / f"{aid}.html").read_text())
    hidden = _hidden_lines(battle["notebooks"][aid][0])
    assert hidden
    for text, where in ((outputs, "the student's outputs"), (feedback, "the feedback")):
        leaked = [line for line in hidden if line in text.replace("\\n", "\n").replace('\\"', '"')]
        assert not leaked, f"{where} show hidden test code: {leaked[:2]}"


@pytest.mark.parametrize("name", sorted(n for n, s in HOSTILE.items() if s.get("refused")))
def test_links_and_oversized_files_are_not_copied_out(battle, name):
    spec, course = HOSTILE[name], battle["course"]
    aid = spec["aid"]
    out = course / "autograded" / _sid(name) / aid
    for entry in spec["refused"]:
        entry = entry.replace("{AID}", aid)
        assert not os.path.lexists(out / entry), f"{entry} was copied into autograded/"
    report = json.loads((course / "grading_reports" / aid / _sid(name) / "files.json").read_text())
    for entry in spec["refused"]:
        assert any(line.startswith(entry.replace("{AID}", aid) + ":") for line in report["refused"]), report
    copied = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".ipynb"] if out.exists() else []
    secrets = [p for p in copied if b"root:" in p.read_bytes()[:4096] or b"SQLite format" in p.read_bytes()[:64]
               or b"BEGIN HIDDEN TESTS" in p.read_bytes()]
    assert not secrets, secrets
    log = battle["runs"][aid].stdout + battle["runs"][aid].stderr
    assert f"REFUSED FILES {_sid(name)} / {aid}" in log


def test_disk_use_of_the_hostile_batch_is_bounded(battle):
    """A 1 GiB sparse file in a submission once cost 1 GiB of real disk per copy (autograded/,
    feedback/, the sandbox's scratch copy): now nothing over the per-file limit is copied."""
    course = battle["course"]
    used = sum(p.lstat().st_blocks * 512 for top in ("autograded", "feedback") if (course / top).exists()
               for p in (course / top).rglob("*"))
    assert used < 100 * 2**20, f"{used / 2**20:.0f} MB under autograded/ and feedback/"


# ----------------------------------------------------------------------------- feedback


def test_feedback_hides_hidden_tests(battle):
    course = battle["course"]
    proc = gt.nbgrader(["generate_feedback", "ex04_evaluation", "--student", "release", "--force"], course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (course / "feedback" / "release" / "ex04_evaluation" / "ex04_evaluation.html").read_text()
    source = battle["notebooks"]["ex04_evaluation"][0]
    hidden = [line.strip() for c in source.cells if "BEGIN HIDDEN TESTS" in c.source
              for line in c.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
              if len(line.strip()) > 25]
    assert hidden
    import html as html_module

    text = html_module.unescape(html)
    leaked = [line for line in hidden if line in text]
    assert not leaked, f"feedback shows hidden test code: {leaked[:3]}"
    assert "test_frechet" in text and "hidden tests: not shown" in text
    assert "NotImplementedError" in text  # what went wrong is still said


# ----------------------------------------------------------------------------- no sandbox


@pytest.fixture(scope="module")
def plain_course(tmp_path_factory):
    aid = "ex01_likelihood"
    course = gt.new_course(tmp_path_factory.mktemp("nosandbox") / "course", [aid])
    released = gt.generate(course, aid)
    release = nbformat.read(released, 4)
    attack = HOSTILE["ex01-input-transformer"]
    path = course / "submitted" / "cheater" / aid / f"{aid}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(gt.apply_edits(release, {"set": attack["set"]}, release), str(path))
    return course


def _autograde_with(course: Path, settings: str) -> tuple[subprocess.CompletedProcess, str]:
    """`nbgrader autograde ex01` with ``settings`` appended to the course's config for the run."""
    config = course / "nbgrader_config.py"
    original = config.read_text()
    config.write_text(original + "\n" + settings + "\n")
    try:
        proc = gt.nbgrader(["autograde", "ex01_likelihood", "--force"], course)
    finally:
        config.write_text(original)
    return proc, proc.stdout + proc.stderr


def test_autograde_refuses_without_a_sandbox(plain_course):
    proc, out = _autograde_with(plain_course, 'c.Sandbox.bwrap = "genlearn-no-such-bwrap"')
    assert proc.returncode != 0
    lines = [line for line in out.splitlines() if "refusing to autograde" in line]
    assert lines and "c.Sandbox.allow_unsandboxed = True" in lines[0] and "genlearn-no-such-bwrap" in lines[0], out[-2000:]
    assert not (plain_course / "autograded" / "cheater").exists() or not list(
        (plain_course / "autograded" / "cheater").rglob("*.ipynb"))


def test_allowed_unsandboxed_grading_still_catches_tampering(plain_course):
    proc, out = _autograde_with(plain_course, 'c.Sandbox.bwrap = "genlearn-no-such-bwrap"\n'
                                              "c.Sandbox.allow_unsandboxed = True")
    assert proc.returncode == 0, out[-3000:]
    assert "grading WITHOUT a sandbox" in out
    scores = gt.scores(plain_course, "ex01_likelihood", "cheater")
    assert all(v == 0 for k, v in scores.items() if k.startswith("test_")), scores
    assert "TAMPERING cheater" in out
