"""genlearn-course: course setup, roster, due dates and late penalties, class-scale
autograding with N workers, Canvas/Moodle grade export and LMS archives (zip_collect).

The grading tests run real nbgrader in a temporary course folder made by
``genlearn-course setup`` from this repository.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_tools as gt
from genlearn.course import create, lms, parallel
from genlearn.course.late import PerDayPenalty
from genlearn.course.roster import RosterError, read_roster

AID = "ex01_likelihood"

_SOURCE = nbformat.read(gt.SOURCE / AID / f"{AID}.ipynb", 4)
AUTO = sum(gt.test_cells(_SOURCE).values())                     # AID's autograded points
TOTAL = AUTO + sum(gt.written_cells(_SOURCE).values())         # and with the answers graded by hand
ROSTER = """id,first_name,last_name,email
alovelace,Ada,Lovelace,ada@example.org
cbabbage,Charles,Babbage,charles@example.org
ghopper,Grace,Hopper,grace@example.org
aturing,Alan,Turing,alan@example.org
kjohnson,Katherine,Johnson,katherine@example.org
ejn,Émilie,du Châtelet,emilie@example.org
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(gt.ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "genlearn.course.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


# ----------------------------------------------------------------------------- roster, dates, penalties


def test_roster_reads_students(tmp_path):
    students = read_roster(_write(tmp_path / "r.csv", "\ufeff" + ROSTER + "\n"))
    assert [s.id for s in students] == ["alovelace", "cbabbage", "ghopper", "aturing", "kjohnson", "ejn"]
    assert students[5].last_name == "du Châtelet" and students[0].email == "ada@example.org"


@pytest.mark.parametrize("text,message", [
    ("id,first_name,email\nx,A,a@b.org\n", "missing last_name"),
    ("id,first_name,last_name,email\nAda Lovelace,Ada,Lovelace,a@b.org\n", "not a valid user name"),
    ("id,first_name,last_name,email\nada,A,L,a@b.org\nada,B,M,b@b.org\n", "already on line 2"),
    ("id,first_name,last_name,email\nada,A,L,not-an-address\n", "not an e-mail address"),
    ("id,first_name,last_name,email\n", "no students"),
])
def test_roster_errors_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(RosterError, match=message):
        read_roster(_write(tmp_path / "r.csv", text))


def test_due_dates_need_a_time_zone():
    aid, when = create.parse_due("ex01_likelihood=2027-01-15T23:59+01:00")
    assert aid == AID and when.utcoffset() == dt.timedelta(hours=1)
    with pytest.raises(ValueError, match="time zone"):
        create.parse_due("ex01_likelihood=2027-01-15T23:59")
    with pytest.raises(ValueError, match="ISO 8601"):
        create.parse_due("ex01_likelihood=next friday")
    with pytest.raises(ValueError, match="ASSIGNMENT=DATE-TIME"):
        create.parse_due("2027-01-15T23:59Z")


@pytest.mark.parametrize("seconds,grace,expected_percent", [
    (0, 0, 0), (1, 0, 10), (86400, 0, 10), (86401, 0, 20), (10 * 60, 15, 0), (16 * 60, 15, 10), (30 * 86400, 0, 50),
])
def test_late_penalty_per_started_day(seconds, grace, expected_percent):
    plugin = PerDayPenalty(percent_per_day=10, max_percent=50, grace_minutes=grace)
    assert plugin.late_submission_penalty("s", 16.0, seconds) == pytest.approx(16.0 * expected_percent / 100)


def test_late_penalty_rejects_nonsense():
    from traitlets import TraitError

    with pytest.raises(TraitError, match="between 0 and 100"):
        PerDayPenalty(percent_per_day=150)
    with pytest.raises(TraitError, match=">= 0"):
        PerDayPenalty(grace_minutes=-5)


# ----------------------------------------------------------------------------- setup


def _setup(tmp_path, *extra, course="course"):
    roster = _write(tmp_path / "roster.csv", ROSTER)
    proc = _cli("setup", str(tmp_path / course), "--source", str(gt.ROOT), "--exchange", str(tmp_path / "exchange"),
                "--assignment", AID, "--roster", str(roster), *extra)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / course, json.loads(proc.stdout)


@pytest.mark.grading
def test_setup_makes_course_exchange_and_gradebook(tmp_path):
    from nbgrader.api import Gradebook

    course, out = _setup(tmp_path, "--due", f"{AID}=2027-01-15T23:59+01:00", "--late-penalty", "10",
                         "--late-max", "50", "--late-grace", "15")
    assert out["students"] == 6 and out["assignments"] == [AID]
    assert (course / "solutions" / AID / f"{AID}.ipynb").exists()
    assert not (course / "solutions" / "ex02_vae").exists(), "only the named assignment is copied"
    exchange = tmp_path / "exchange" / "genlearn"
    if os.geteuid() == 0:  # students pass through; only their own folders below inbound/ and feedback/
        assert stat.S_IMODE((tmp_path / "exchange").stat().st_mode) == 0o755
        assert stat.S_IMODE((exchange / "inbound").stat().st_mode) == 0o2751
    else:  # students make their own folder in a sticky inbound
        assert stat.S_IMODE((exchange / "inbound").stat().st_mode) == 0o3733
    assert stat.S_IMODE(course.stat().st_mode) == 0o700
    config = (course / "nbgrader_config.py").read_text()
    assert config.startswith((gt.ROOT / "nbgrader_config.py").read_text().rstrip())
    assert "c.PerDayPenalty.percent_per_day = 10.0" in config and "c.PerDayPenalty.grace_minutes = 15.0" in config
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genlearn") as gb:
        assert gb.find_student("ejn").last_name == "du Châtelet"
        assert gb.find_assignment(AID).duedate == dt.datetime(2027, 1, 15, 22, 59)

    # A rerun updates: one course block, the due date kept unless given, edits to solutions kept.
    (course / "solutions" / AID / "notes.txt").write_text("mine")
    _, again = _setup(tmp_path, "--late-penalty", "5")
    config = (course / "nbgrader_config.py").read_text()
    assert config.count(create.BLOCK_START) == 1 and "percent_per_day = 5.0" in config
    assert again["copied"] == [] and (course / "solutions" / AID / "notes.txt").read_text() == "mine"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genlearn") as gb:
        assert gb.find_assignment(AID).duedate == dt.datetime(2027, 1, 15, 22, 59)

    # Kubernetes: ngshare is the exchange; no folder, no Exchange.root.
    elsewhere, out = _setup(tmp_path, "--no-exchange", course="k8s")
    block = (elsewhere / "nbgrader_config.py").read_text().split(create.BLOCK_START)[1]
    assert out["exchange"] is None and "c.Exchange.root" not in block


@pytest.mark.slow  # genlearn-course subprocesses: seconds each, kept out of the fast tier
def test_setup_refuses_unknown_assignments_and_bad_dates(tmp_path):
    proc = _cli("setup", str(tmp_path / "c"), "--source", str(gt.ROOT), "--exchange", str(tmp_path / "x"),
                "--assignment", "ex99_nothing")
    assert proc.returncode == 1 and "unknown assignment(s) ex99_nothing" in proc.stderr
    proc = _cli("setup", str(tmp_path / "c"), "--source", str(gt.ROOT), "--due", f"{AID}=tomorrow")
    assert proc.returncode == 1 and "ISO 8601" in proc.stderr
    proc = _cli("setup", str(tmp_path / "c"), "--late-penalty", "120")
    assert proc.returncode == 2 and "between 0 and 100" in proc.stderr


@pytest.mark.grading
@pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's group needs root")
def test_setup_shares_the_course_with_the_instructors_group(tmp_path):
    course, _ = _setup(tmp_path, "--group", "root")
    assert stat.S_IMODE(course.stat().st_mode) == 0o2770 and course.stat().st_gid == 0
    assert stat.S_IMODE((course / "gradebook.db").stat().st_mode) == 0o660
    assert "c.CourseDirectory.groupshared = True" in (course / "nbgrader_config.py").read_text()


# ----------------------------------------------------------------------------- a graded class

# student id -> (what they submit, submitted how late in hours)
CLASS = {
    "alovelace": ("solved", None),
    "cbabbage": ("wrong", None),
    "ghopper": ("solved", 30),        # 30 h late: 2 started days, 20% off
    "aturing": ("exception", None),
    "kjohnson": ("solved", None),
    "ejn": ("wrong", 0.1),            # 6 minutes late, inside the 15-minute grace
}
DUE = dt.datetime(2027, 1, 15, 22, 59, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course from `genlearn-course setup`, six submissions autograded with three workers."""
    tmp = tmp_path_factory.mktemp("class")
    course, _ = _setup(tmp, "--due", f"{AID}={DUE.isoformat()}", "--late-penalty", "10", "--late-max", "50",
                       "--late-grace", "15")
    released = gt.generate(course, AID)
    source_nb, release_nb = nbformat.read(course / "solutions" / AID / f"{AID}.ipynb", 4), nbformat.read(released, 4)
    solved = gt.student_notebook(source_nb, release_nb)
    robust = gt.robustness_submissions(gt.load_fixtures(AID).ROBUSTNESS)
    kinds = {"solved": solved, "wrong": gt.apply_edits(solved, gt.load_fixtures(AID).SUBMISSIONS["unbiased-variance"]),
             "exception": gt.apply_edits(solved, robust["exception"])}
    for sid, (kind, late_hours) in CLASS.items():
        folder = course / "submitted" / sid / AID
        folder.mkdir(parents=True)
        nbformat.write(kinds[kind], str(folder / f"{AID}.ipynb"))
        when = DUE + dt.timedelta(hours=late_hours if late_hours is not None else -2)
        (folder / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    run = parallel.autograde_class(course, AID, workers=3)
    return course, run, gt.test_cells(source_nb)


@pytest.mark.grading
def test_parallel_autograde_loses_no_row(graded):
    course, run, _ = graded
    assert run.workers == 3 and len(run.results) == len(CLASS)
    assert not run.failed, {r.student: r.log[-2000:] for r in run.results if not r.ok}
    assert run.rows == len(CLASS) and run.lost == []
    logs = "\n".join(r.log for r in run.results)
    assert "database is locked" not in logs or all(r.ok for r in run.results)
    assert {p.stem for p in (course / "logs" / "autograde" / AID).glob("*.log")} == set(CLASS)


@pytest.mark.parametrize("quota, workers, threads", [(2, 2, "1"), (2, 1, "2"), (8, 3, "2"), (2, 5, "1"), (16, 4, "4")])
def test_grading_kernels_share_the_cpus_out(quota, workers, threads):
    env = parallel.kernel_threads({"PATH": "/bin"}, workers, quota=quota)
    assert env == {"PATH": "/bin", "GENLEARN_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}


@pytest.mark.parametrize("set_by_instructor", [{"GENLEARN_NUM_THREADS": "3"}, {"OMP_NUM_THREADS": "2"}])
def test_grading_kernels_keep_the_instructors_thread_count(set_by_instructor):
    assert parallel.kernel_threads(dict(set_by_instructor), 2, quota=8) == set_by_instructor


@pytest.mark.grading
def test_workers_get_a_fixed_thread_count(graded, monkeypatch):
    """Each worker (and so each kernel it starts, see sandbox._kernel_env) gets the CPU quota
    shared out: before, each kernel chose from the load it saw, so two could take every core."""
    course, _, _ = graded
    seen = []

    class Recorder:
        def __init__(self, course_dir, assignment, db_url, env, log_path):
            seen.append({k: env.get(k) for k in parallel.THREAD_VARS})

        def grade(self, student, force, timeout):
            return True, ""

        def close(self):
            pass

    monkeypatch.setattr(parallel, "GRADERS", {**parallel.GRADERS, "api": Recorder})
    for var in parallel.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(parallel, "cpu_quota", lambda: 4)
    parallel.autograde_class(course, AID, ["alovelace", "cbabbage"], workers=2)
    assert seen and all(s == {"GENLEARN_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"} for s in seen), seen


@pytest.mark.grading
def test_class_scores_and_late_penalties(graded):
    course, _, points = graded
    grades = lms.read_grades(f"sqlite:///{course / 'gradebook.db'}", "genlearn")
    final = {sid: grades.scores[sid, AID] for sid in CLASS}
    assert AUTO == sum(points.values())
    wrong = AUTO - points["test_fit_gaussian"]
    exception = AUTO - points["test_sample_mixture"]
    assert final == {"alovelace": AUTO, "cbabbage": wrong, "ghopper": pytest.approx(AUTO * 0.8), "aturing": exception,
                     "kjohnson": AUTO, "ejn": wrong}


@pytest.mark.grading
def test_cli_workers_grade_the_same(graded):
    """--mode cli (one `nbgrader autograde --student` per submission) regrades to the same scores."""
    course, _, _ = graded
    db = f"sqlite:///{course / 'gradebook.db'}"
    before = lms.read_grades(db, "genlearn").scores
    run = parallel.autograde_class(course, AID, ["alovelace", "cbabbage"], workers=2, force=True, mode="cli")
    assert not run.failed and run.rows == len(CLASS) and run.lost == [], [r.log[-1500:] for r in run.results]
    assert lms.read_grades(db, "genlearn").scores == before


@pytest.mark.slow
def test_cli_grader_writes_its_log_where_it_is_told(tmp_path):
    """The cli worker's log_path was ignored: each command's output, and a kill, now land there."""
    log_path = tmp_path / "workers" / "worker-0.log"
    log_path.parent.mkdir()
    grader = parallel.CliGrader(tmp_path, "nope", f"sqlite:///{tmp_path / 'g.db'}", dict(os.environ), log_path)
    ok, log = grader.grade("alovelace", False, 120)
    assert not ok and log.strip()
    text = log_path.read_text()
    assert text.startswith("[genlearn-course] nbgrader autograde --student alovelace\n") and text.endswith(log)
    ok, log = grader.grade("cbabbage", False, 0.001)
    assert not ok and "killed after" in log and str(log_path) in log
    assert log_path.read_text().endswith("--student cbabbage\n" + log + "\n")


@pytest.mark.parametrize("quota, memory, expected", [
    (2, 24 * 2**30, 3),            # one per CPU plus one: the CPUs' idle share while kernels take turns
    (16, None, 17),                # memory unknown: CPUs decide
    (8, 3 * 2**30 + 5, 3),         # 3 GiB free at 1 GiB a worker: 3, not 9
    (4, 100 * 2**20, 1),           # never fewer than one
])
def test_default_workers_follow_the_cpus_and_the_free_memory(monkeypatch, quota, memory, expected):
    monkeypatch.setattr(parallel, "available_memory", lambda: memory)
    n, why = parallel.default_workers(quota=quota)
    assert n == expected
    assert why.startswith(f"{quota} CPUs + 1") and (("memory free" in why) == (expected < quota + 1)), why


def test_available_memory_takes_the_smaller_of_the_machine_and_the_cgroup(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n")
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    assert parallel.available_memory(meminfo, cgroup) == 8000000 * 1024  # no memory.max: the machine's
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text("123\n")
    assert parallel.available_memory(meminfo, cgroup) == 8000000 * 1024
    (cgroup / "memory.max").write_text(f"{4 * 2**30}\n")
    (cgroup / "memory.current").write_text(f"{2**30}\n")
    assert parallel.available_memory(meminfo, cgroup) == 3 * 2**30  # the container's limit is nearer
    assert parallel.available_memory(tmp_path / "none", tmp_path / "none") is None


@pytest.mark.parametrize("kwargs, error, match", [({"workers": 0}, ValueError, "workers must be >= 1, got 0"),
                                                  ({"workers": True}, TypeError, "workers must be an integer"),
                                                  ({"mode": "fast"}, ValueError, "unknown mode 'fast'")])
def test_autograde_class_checks_its_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        parallel.autograde_class(tmp_path, AID, **kwargs)


@pytest.mark.grading
def test_verify_reports_a_lost_row(graded):
    """The end-of-run check can fail: remove one student's graded row and it is reported."""
    from nbgrader.api import Gradebook

    course, _, _ = graded
    _, coursedir = __import__("genlearn.course.config", fromlist=["load_course"]).load_course(course)
    copy = course.parent / "lost.db"
    copy.write_bytes((course / "gradebook.db").read_bytes())
    coursedir.db_url = f"sqlite:///{copy}"
    with Gradebook(coursedir.db_url, "genlearn") as gb:
        gb.remove_submission(AID, "kjohnson")
    rows, lost = parallel.verify(coursedir, AID, list(CLASS))
    assert rows == len(CLASS) - 1 and lost == ["kjohnson"]


@pytest.mark.grading
def test_autograde_cli_refuses_an_unknown_assignment(graded):
    course, _, _ = graded
    proc = _cli("autograde", "ex02_vae", "--course", str(course))
    assert proc.returncode == 1 and "no submissions of ex02_vae" in proc.stderr


# ----------------------------------------------------------------------------- grades out

CANVAS_EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,ex01_likelihood (987654),Homework 0 (111),Current Score,Final Score
    Points Possible,,,,,20.00,10.00,(read only),(read only)
"Lovelace, Ada",5101,S001,alovelace,GEN101-01,,10.00,,
"Babbage, Charles",5102,S002,cbabbage,GEN101-01,,8.00,,
"Hopper, Grace",5103,S003,ghopper,GEN101-02,,9.00,,
"Turing, Alan",5104,S004,aturing,GEN101-02,,7.00,,
"Nobody, Someone",5199,S099,snobody,GEN101-02,,5.00,,
"Student, Test",5100,,,GEN101-01,,,,
"""

MOODLE_EXPORT = """First name,Last name,ID number,Institution,Department,Email address,Assignment: ex01_likelihood (Real),Course total (Real),Last downloaded from this course
Ada,Lovelace,,Uni,CS,ada@example.org,-,-,1736900000
Charles,Babbage,cbabbage,Uni,CS,charles@example.org,-,-,1736900000
Katherine,Johnson,,Uni,CS,katherine@example.org,-,-,1736900000
"""


def _export(course: Path, tmp_path: Path, lms_name: str, template: str | None = None, *extra, status=1):
    """`genlearn-course export --<lms> out.csv [--<lms>-template]` -> (rows of out.csv, its summary).

    The graded class's written answers are not graded by hand, so every export warns about
    them and exits 1 unless ``status`` says otherwise."""
    out = tmp_path / f"{lms_name}-{'filled' if template else 'plain'}.csv"
    args = ["export", f"--{lms_name}", str(out), *extra]
    if template:
        args += [f"--{lms_name}-template", str(_write(tmp_path / f"{lms_name}-export.csv", template))]
    proc = _cli(*args, cwd=course)
    assert proc.returncode == status, proc.stderr
    summary = json.loads(proc.stdout)[lms_name]
    for warning in summary["warnings"]:
        assert f"WARNING {lms_name}: {warning}" in proc.stderr
    return list(csv.DictReader(out.open(newline="", encoding="utf-8"))), summary


@pytest.mark.grading
def test_canvas_export(graded, tmp_path):
    course, _, points = graded
    # No template: Canvas's columns, a Points Possible row, the user name as the SIS ids.
    plain, _ = _export(course, tmp_path, "canvas")
    assert list(plain[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", AID]
    assert plain[0]["Student"].strip() == "Points Possible" and plain[0][AID] == f"{TOTAL:g}"
    by_login = {r["SIS Login ID"]: r for r in plain[1:]}
    assert by_login["alovelace"]["Student"] == "Lovelace, Ada" and by_login["alovelace"][AID] == f"{AUTO:g}"
    assert by_login["ghopper"][AID] == f"{AUTO * 0.8:g}" and len(by_login) == len(CLASS)

    # With Canvas's own export: its ids and sections kept, its column header reused, the
    # read-only columns dropped; rows matched by SIS Login ID.
    filled, out = _export(course, tmp_path, "canvas", CANVAS_EXPORT)
    header = list(filled[0])
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ex01_likelihood (987654)"]
    rows = {r["SIS Login ID"]: r for r in filled[1:]}
    assert rows["alovelace"]["ID"] == "5101" and rows["ghopper"]["Section"] == "GEN101-02"
    assert rows["cbabbage"]["ex01_likelihood (987654)"] == f"{AUTO - points['test_fit_gaussian']:g}"
    assert rows["snobody"]["ex01_likelihood (987654)"] == "", "a Canvas student without a submission row is left blank"
    assert "Nobody, Someone" in out["template_rows_without_student"]
    assert sorted(out["students_not_in_template"]) == ["ejn", "kjohnson"]
    assert not any(r["Student"].startswith("Student, Test") for r in filled)
    # Students Canvas does not know are not added as rows Canvas cannot match; all of it is said.
    assert set(rows) == {"alovelace", "cbabbage", "ghopper", "aturing", "snobody"}
    said = "\n".join(out["warnings"])
    for fragment in ("Nobody, Someone", "ejn, kjohnson", "alovelace / ex01_likelihood: not graded by hand yet (written_debug, written_mle)"):
        assert fragment in said, fragment


@pytest.mark.grading
def test_moodle_export(graded, tmp_path):
    course, _, _ = graded
    plain, _ = _export(course, tmp_path, "moodle")
    assert list(plain[0]) == ["First name", "Last name", "ID number", "Email address", f"Assignment: {AID} (Real)"]
    assert {r["Email address"]: r[f"Assignment: {AID} (Real)"] for r in plain}["ada@example.org"] == f"{AUTO:g}"

    filled, out = _export(course, tmp_path, "moodle", MOODLE_EXPORT)
    assert list(filled[0]) == ["First name", "Last name", "ID number", "Institution", "Department",
                               "Email address", f"Assignment: {AID} (Real)"]
    by_mail = {r["Email address"]: r[f"Assignment: {AID} (Real)"] for r in filled}
    assert by_mail["ada@example.org"] == by_mail["katherine@example.org"] == f"{AUTO:g}"  # matched by e-mail
    assert out["template_rows_without_student"] == [] and len(out["students_not_in_template"]) == 3
    assert len(filled) == 3, "students missing from Moodle's export are listed, not added"


def test_export_rejects_a_template_of_the_other_lms(tmp_path):
    grades = lms.Grades([(AID, 20.0)], [{"id": "a", "first_name": "A", "last_name": "B", "email": ""}], {("a", AID): 3.0})
    with pytest.raises(ValueError, match="not a canvas gradebook export"):
        lms.export_grades(grades, lms.CANVAS, tmp_path / "o.csv", _write(tmp_path / "t.csv", MOODLE_EXPORT))


@pytest.fixture(scope="module")
def small_gradebook(tmp_path_factory):
    """A factory of small gradebooks (ex01 and two students) at a given path: each a copy of one
    made once, since making a gradebook runs its migrations (about 2 s), copying it takes ms."""
    from nbgrader.api import Gradebook

    template = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{template}", "genlearn") as gb:
        gb.update_or_create_assignment(AID)
        for sid, first, last, email in (("alovelace", "Ada", "Lovelace", "ada@example.org"),
                                        ("cbabbage", "Charles", "Babbage", "charles@example.org")):
            gb.update_or_create_student(sid, first_name=first, last_name=last, email=email)

    def make(path: Path):
        shutil.copyfile(template, path)
        return Gradebook(f"sqlite:///{path}", "genlearn")
    return make


@pytest.mark.parametrize("plugin, header", [(lms.CanvasExport, "ex01_likelihood (987654)"),
                                            (lms.MoodleExport, f"Assignment: {AID} (Real)")])
def test_export_plugins_are_nbgrader_exporters(tmp_path, plugin, header, small_gradebook):
    """The Canvas and Moodle exporters are nbgrader ExportPlugins: --to, --assignment, --student
    and the template, titles and warnings of genlearn-course export."""
    from nbgrader.plugins import ExportPlugin

    assert issubclass(plugin, ExportPlugin)
    template = _write(tmp_path / "t.csv", CANVAS_EXPORT if plugin is lms.CanvasExport else MOODLE_EXPORT)
    out = tmp_path / "out.csv"
    with small_gradebook(tmp_path / "gradebook.db") as gb:
        exporter = plugin(to=str(out), assignment=[AID], student=["alovelace"], template=str(template))
        exporter.export(gb)
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    graded = [r for r in rows if r[header] != "" and "Points Possible" not in r.get("Student", "")]
    assert [r.get("SIS Login ID") or r.get("Email address") for r in graded] == [
        "alovelace" if plugin is lms.CanvasExport else "ada@example.org"], rows
    assert graded[0][header] == "0", "no submission scores 0"
    assert exporter.result["file"] == str(out) and exporter.grades.assignments == [(AID, 0.0)]
    assert [s["id"] for s in exporter.grades.students] == ["alovelace"], "--student narrows the export"
    said = "\n".join(exporter.result["warnings"])
    assert ("Babbage, Charles" if plugin is lms.CanvasExport else "Charles") in said, said


def test_export_plugin_warns_about_a_template_column_it_cannot_find(tmp_path, caplog, small_gradebook):
    with small_gradebook(tmp_path / "gradebook.db") as gb:
        exporter = lms.CanvasExport(to=str(tmp_path / "o.csv"), assignment=[AID], titles={AID: "Exercise 9"},
                                    template=str(_write(tmp_path / "t.csv", CANVAS_EXPORT)))
        exporter.log.propagate = True
        with caplog.at_level("WARNING"):
            exporter.export(gb)
    assert any(f"{AID} has no column in the Canvas export" in w for w in exporter.result["warnings"])
    assert "has no column in the Canvas export" in caplog.text


@pytest.mark.grading
def test_nbgrader_export_with_the_canvas_exporter(graded, tmp_path):
    """`nbgrader export --exporter genlearn.course.lms.CanvasExport` writes what genlearn-course export writes."""
    course, _, _ = graded
    ours, _ = _export(course, tmp_path, "canvas", CANVAS_EXPORT)
    out = tmp_path / "nbgrader-canvas.csv"
    proc = gt.nbgrader(["export", "--exporter", "genlearn.course.lms.CanvasExport", "--to", str(out),
                        f"--CanvasExport.template={tmp_path / 'canvas-export.csv'}"], course)
    assert proc.returncode == 0, proc.stderr
    assert list(csv.DictReader(out.open(newline="", encoding="utf-8"))) == ours
    assert "not graded by hand yet" in proc.stderr, "the warnings are logged"


# ----------------------------------------------------------------------------- archives in


def _zip(path: Path, files: dict) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


@pytest.mark.grading
def test_zip_collect_canvas_and_moodle_archives(tmp_path):
    """Real `nbgrader zip_collect` with the repository's configuration, on archives shaped like
    Canvas's "Download Submissions" and Moodle's "Download all submissions"."""
    course, _ = _setup(tmp_path)
    import shutil

    shutil.copytree(gt.RELEASE / AID, course / "exercises" / AID)  # what generate_assignment would release
    nb = (gt.RELEASE / AID / f"{AID}.ipynb").read_bytes()
    archive = course / "downloaded" / AID / "archive"
    archive.mkdir(parents=True)
    _zip(archive / "submissions.zip", {                        # Canvas
        f"lovelaceada_5101_77001_{AID}.ipynb": nb,
        f"babbagecharles_LATE_5102_77002_{AID}-1.ipynb": nb,   # late, a resubmission
        f"hopper grace_5103_77003_{AID}.ipynb": b"",             # not Canvas's shape: skipped
        "turingalan_5104_77004_my notebook copy.ipynb": nb,    # renamed by the student
        "stranger_5199_77099_ex01_likelihood.ipynb": nb,       # not on the roster: skipped
    })
    _zip(archive / "moodle.zip", {                             # Moodle, in folders and flat
        f"Katherine Johnson_334455_assignsubmission_file_/{AID}.ipynb": nb,
        f"Émilie du Châtelet_334456_assignsubmission_file_{AID}.ipynb": nb,
        "Grace Hopper_334457_assignsubmission_onlinetext_onlinetext.html": b"<p>see attached</p>",
    })
    proc = gt.nbgrader(["zip_collect", AID], course)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = sorted(p.relative_to(course / "submitted").as_posix() for p in (course / "submitted").rglob("*.ipynb"))
    assert got == [f"{sid}/{AID}/{AID}.ipynb" for sid in sorted(["alovelace", "cbabbage", "aturing", "kjohnson", "ejn"])]
    log = proc.stdout + proc.stderr
    assert "'stranger' matches no student" in log


def test_collector_refuses_ambiguous_names(tmp_path):
    collector = lms.LMSFileNameCollector(named_regexps=[r".*/(?P<lms_name>[a-z]+)_(?P<file_id>.+)\.ipynb$"],
                                         single_notebook=False)
    collector._roster = {"leeann": {"alee", "annlee"}, "turingalan": {"aturing"}}
    assert collector.collect("/x/turingalan_ex01.ipynb") == {"student_id": "aturing", "file_id": "ex01"}
    assert collector.collect("/x/leeann_ex01.ipynb") is None
    assert collector.collect("/x/turingalan_ex01.txt") is None
    assert lms.name_key("Émilie du Châtelet") == "emilieduchatelet"


# ----------------------------------------------------------------------------- issue 21: what an instructor met


@pytest.mark.slow  # genlearn-course subprocesses: seconds each, kept out of the fast tier
def test_setup_changes_no_mode_of_files_it_did_not_make(tmp_path):
    """Pointed at a checkout (the course folder *is* the repository), setup used to chmod the
    whole tree to 0700/0600: hub/install, hub/start, .ci/run lost their execute bit."""
    checkout = tmp_path / "checkout"
    shutil.copytree(gt.ROOT / "solutions" / AID, checkout / "solutions" / AID)
    shutil.copy(gt.ROOT / "nbgrader_config.py", checkout)
    script = checkout / "hub" / "install"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (checkout / "README.md").write_text("x")
    (checkout / "README.md").chmod(0o644)
    checkout.chmod(0o755)
    proc = _cli("setup", str(checkout), "--source", str(checkout), "--no-exchange", "--assignment", AID)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(script.stat().st_mode) == 0o755 and stat.S_IMODE((checkout / "README.md").stat().st_mode) == 0o644
    assert stat.S_IMODE(checkout.stat().st_mode) == 0o755
    assert stat.S_IMODE((checkout / "gradebook.db").stat().st_mode) == 0o600, "what setup made is private"
    assert any("other users may enter it" in w for w in json.loads(proc.stdout)["warnings"])


@pytest.mark.grading
def test_export_carries_only_assignments_students_received(graded, tmp_path):
    """setup without --assignment registers every assignment; an export with six all-zero columns
    would make Canvas create six assignments."""
    from nbgrader.api import Gradebook

    course, _, _ = graded
    copy = tmp_path / "gradebook.db"
    copy.write_bytes((course / "gradebook.db").read_bytes())
    with Gradebook(f"sqlite:///{copy}", "genlearn") as gb:
        gb.update_or_create_assignment("ex02_vae")
    grades = lms.read_grades(f"sqlite:///{copy}", "genlearn")
    assert [a for a, _ in grades.assignments] == [AID] and grades.left_out == ["ex02_vae"]
    assert [a for a, _ in lms.read_grades(f"sqlite:///{copy}", "genlearn", released=["ex02_vae"]).assignments] == [AID, "ex02_vae"]
    with pytest.raises(ValueError, match="not in the gradebook: ex09"):
        lms.read_grades(f"sqlite:///{copy}", "genlearn", only=["ex09"])


CANVAS_BY_EMAIL = """Student,ID,SIS User ID,SIS Login ID,Section,Exercise 1 (987654),Current Score
    Points Possible,,,,,20.00,(read only)
"Lovelace, Ada",5101,100201,ada@example.org,A,,
"Babbage, Charles",5102,100202,charles@example.org,A,,
"Hopper, Grace",5103,100203,grace@example.org,A,,
"Turing, Alan",5104,100204,alan@example.org,A,,
"Johnson, Katherine",5105,100205,katherine@example.org,A,,
"du Châtelet, Émilie",5106,100206,emilie@example.org,A,,
"""


@pytest.mark.grading
def test_canvas_logins_that_are_emails_and_titles_that_differ(graded, tmp_path):
    """Logins that are e-mail addresses matched 0 of the class (and exited 0 with blank rows); an
    assignment titled differently in Canvas silently became a second column."""
    course, _, _ = graded
    rows, out = _export(course, tmp_path, "canvas", CANVAS_BY_EMAIL)
    assert out["template_rows_without_student"] == [] and out["students_not_in_template"] == []
    assert any(f"{AID} has no column in the Canvas export" in w for w in out["warnings"])
    rows, out = _export(course, tmp_path, "canvas", CANVAS_BY_EMAIL, "--title", f"{AID}=Exercise 1")
    assert list(rows[0])[-1] == "Exercise 1 (987654)"
    assert {r["SIS Login ID"]: r["Exercise 1 (987654)"] for r in rows[1:]}["ada@example.org"] == f"{AUTO:g}"
    assert not any("has no column" in w for w in out["warnings"])
    # Numeric logins match nothing of the roster: one clear error, no file of blank rows.
    numeric = CANVAS_BY_EMAIL.replace("@example.org", "")
    for name in ("ada", "charles", "grace", "alan", "katherine", "emilie"):
        numeric = numeric.replace(f",{name},", f",9{len(name)}{name[:2].encode().hex()},")
    proc = _cli("export", "--canvas", str(tmp_path / "n.csv"), "--canvas-template",
                str(_write(tmp_path / "numeric.csv", numeric)), cwd=course)
    assert proc.returncode == 1 and "none of its 6 students matches the roster" in proc.stderr and "lms_user_id" in proc.stderr


@pytest.mark.grading
def test_zip_collect_names_with_accents_late_flags_and_uploads_that_are_not_notebooks(tmp_path):
    course, _ = _setup(tmp_path)
    gt.generate(course, AID)
    nb = (gt.RELEASE / AID / f"{AID}.ipynb").read_bytes()
    roster = _write(tmp_path / "r2.csv", ROSTER + "jnunez,José,Núñez,jose@example.org\n")
    assert _cli("setup", str(course), "--source", str(gt.ROOT), "--no-exchange", "--assignment", AID,
                "--roster", str(roster)).returncode == 0
    archive = course / "downloaded" / AID / "archive"
    archive.mkdir(parents=True)
    _zip(archive / "canvas.zip", {
        f"núñezjosé_104204_77010_{AID}.ipynb": nb,                 # accents: Canvas keeps them
        f"lovelaceada_LATE_5101_77001_{AID}.ipynb": nb,            # Canvas says late
        f"babbagecharles_5102_77002_{AID}.ipynb": b"{not json",   # a broken upload
    })
    _zip(archive / "moodle.zip", {"Grace Hopper_334457_assignsubmission_file_/answers.docx": b"PK\x03\x04"})
    proc = gt.nbgrader(["zip_collect", AID], course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    got = sorted(p.parent.parent.name for p in (course / "submitted").rglob("*.ipynb"))
    assert got == ["alovelace", "cbabbage", "jnunez"], log[-3000:]
    assert "answers.docx: not a notebook (.docx)" in log
    assert "LATE according to the LMS: alovelace" in log
    notes = json.loads((course / "logs" / "zip_collect" / f"{AID}.json").read_text())
    assert notes["late"] == ["alovelace"] and notes["not_a_notebook"] == ["answers.docx"]

    # The broken upload: one line, a 0 with the reason, and the rest graded.
    proc = _cli("autograde", AID, "--course", str(course))  # workers chosen by the command, and said
    assert proc.returncode == 0, proc.stderr[-3000:]
    workers, why = parallel.default_workers()
    assert f"{workers} workers ({why.split(',')[0]}" in proc.stderr.splitlines()[0], proc.stderr[:500]
    broken = [line for line in proc.stderr.splitlines() if line.startswith("BROKEN")]
    assert broken == [line for line in broken if "cbabbage" in line] and len(broken) == 1, proc.stderr[-2000:]
    assert "not a valid notebook" in broken[0] and "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert list(summary["broken"]) == ["cbabbage"] and summary["submissions"] == 2 and not summary["failed"]
    assert summary["workers"] == workers and summary["workers_chosen"].startswith(why.split(",")[0])
    grades = lms.read_grades(f"sqlite:///{course / 'gradebook.db'}", "genlearn")
    assert grades.scores["cbabbage", AID] == 0 and grades.scores["jnunez", AID] == 0  # the release: no answers
