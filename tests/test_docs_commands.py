"""The instructor's documented commands, run as written: docs/hub.md and docs/instructors.md.

Every ```bash block preceded by ``<!-- doc-test: WHO NAME -->`` is run, in the pages' order,
on a clean state: WHO ``root`` in root's login shell, ``instructor`` in the login shell of the
instructor's own Unix account (``runuser -l``: the PATH a terminal gives, which /etc/profile
resets). The blocks are not edited; only where things go changes (docs/hub.md, "What the
tests check"): the settings the page documents (``GENLEARN_HUB_PREFIX``, ``GENLEARN_EXCHANGE``,
``GENLEARN_INSTRUCTORS``, ``GENLEARN_STUDENTS``, ``GENLEARN_HUB_PROFILE``) and the literal paths
and names below point into a temporary folder, random account names and a clone of this
repository. Between blocks the test does what people do in a browser: students fetch and
submit ex01 (one right, one with a mistake), and the written answers are graded, as in
formgrader. At the end the exported grades must be what the submissions deserve.

Needs root, npm and the network to Debian's mirror (the apt line runs); skips otherwise,
fails under CI. About 6-8 minutes (most of it `hub/install`).
"""

from __future__ import annotations

import csv
import io
import os
import pwd
import re
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_tools as gt
import hub_support as hs

pytestmark = pytest.mark.hub
AID = "ex01_likelihood"
PAGES = [gt.ROOT / "docs" / "hub.md", gt.ROOT / "docs" / "instructors.md"]
BLOCK = re.compile(r"<!-- doc-test: (?P<who>root|instructor) (?P<name>[\w-]+) -->\s*```bash\n(?P<code>.*?)```", re.S)
NAMES = [("Ada", "Lovelace"), ("Charles", "Babbage")]


def documented_blocks() -> list[tuple[str, str, str]]:
    """(who, name, code) of every marked block, page by page, in order."""
    return [(m["who"], m["name"], m["code"]) for page in PAGES for m in BLOCK.finditer(page.read_text())]


def test_the_pages_mark_their_command_blocks():
    names = [n for _, n, _ in documented_blocks()]
    assert names == ["setup", "release", "grade", "feedback", "export", "lms", "lms-feedback"], names


class Docs:
    def __init__(self, site: hs.HubSite):
        self.site, w = site, site.workdir
        self.bare = w / "genlearn.git"
        self.instructor = f"{site.tag}inst"
        self.students = [f"{site.tag}s{i}" for i in range(1, len(NAMES) + 1)]
        self.env = {"GENLEARN_HUB_PREFIX": site.prefix, "GENLEARN_EXCHANGE": site.exchange,
                    "GENLEARN_INSTRUCTORS": site.instructors, "GENLEARN_STUDENTS": site.students_group,
                    "GENLEARN_HUB_PROFILE": hs.profile_path(site.tag)}
        self.paths = {"<this repository>": self.bare, "/opt/genlearn-hub": site.prefix,
                      "/srv/genlearn/course": site.course_dir, "/srv/nbgrader/exchange": site.exchange,
                      "/root/genlearn": w / "root-clone", "/root/passwords.csv": site.passwords,
                      "/root/roster.csv": w / "roster.csv", "genlearn-instructors": site.instructors,
                      "genlearn-students": site.students_group, "alice": self.instructor}

    def script(self, code: str) -> str:
        for literal, here in self.paths.items():
            code = code.replace(literal, str(here))
        exports = "".join(f"export {k}={v}\n" for k, v in self.env.items())
        return exports + "set -e -o pipefail\n" + code

    def run(self, who: str, name: str, code: str) -> subprocess.CompletedProcess:
        """Root: a login shell (/etc/profile sets PATH) that keeps the machine's environment, as
        an administrator's terminal does (here it holds what reaching the package registries
        needs). The instructor: their own login shell, from nothing (`runuser -l`)."""
        user = "root" if who == "root" else self.instructor
        if who == "root":
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
            command = ["bash", "--login", "-c", self.script(code)]
        else:
            env, command = None, ["runuser", "-l", user, "-c", self.script(code)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env, cwd="/root")
        assert proc.returncode == 0, (f"the documented block {name!r} failed as {user} ({proc.returncode}):\n"
                                      f"{self.script(code)}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-4000:]}")
        return proc


def _roster(path: Path, ids) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "last_name", "email"])
        for sid, (first, last) in zip(ids, NAMES):
            w.writerow([sid, first, last, f"{sid}@example.org"])


def _answers():
    source = nbformat.read(gt.SOURCE / AID / f"{AID}.ipynb", 4)
    right = gt.student_notebook(source, nbformat.read(gt.RELEASE / AID / f"{AID}.ipynb", 4))
    wrong = gt.apply_edits(right, gt.load_fixtures(AID).SUBMISSIONS["unbiased-variance"])
    return [right, wrong], gt.test_cells(source)


def _give(user: str, path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    uid = pwd.getpwnam(user).pw_uid
    for p in (path, path.parent):
        os.chown(p, uid, pwd.getpwnam(user).pw_gid)


def _grade_written(course: Path, students, lost: float = 0.0) -> None:
    """What the instructor does in formgrader: a manual score for each written answer (its
    points less ``lost``)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genlearn") as gb:
        for sid in students:
            for grade in gb.find_submission_notebook(AID, AID, sid).grades:
                if grade.needs_manual_grade:  # what formgrader's grade API does on save
                    grade.manual_score = max(grade.max_score - lost, 0)
                    grade.needs_manual_grade = False
            gb.db.commit()


def _final(csv_path: Path) -> dict:
    rows = list(csv.DictReader(csv_path.open()))
    return {r["SIS Login ID"]: float(r[AID]) for r in rows if r["Student"].strip() != "Points Possible"}


@pytest.fixture
def docs():
    hs.check_can_run()
    site = hs.HubSite(hs.new_workdir("genlearn-docs-prefix-"), hs.new_workdir("genlearn-docs-"))
    d = Docs(site)
    try:
        subprocess.run(["git", "clone", "--quiet", "--bare", str(gt.ROOT), str(d.bare)], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(d.bare)], check=True)
        site.users = [d.instructor, *d.students]
        yield d
    finally:
        hs.remove_profile(site.tag)
        site.close()
        import shutil

        shutil.rmtree(site.prefix, ignore_errors=True)


def test_documented_commands_run_as_written(docs):
    d, site = docs, docs.site
    blocks = {name: (who, code) for who, name, code in documented_blocks()}
    _roster(site.workdir / "roster.csv", d.students)
    answers, points = _answers()

    # docs/hub.md: from an empty machine to a released assignment, then a class graded.
    d.run("root", "setup", blocks["setup"][1])
    d.run("instructor", "release", blocks["release"][1])
    terminal = (f"export JUPYTER_CONFIG_PATH={site.prefix}/etc/jupyter/student:{site.prefix}/etc/jupyter/common "
                f"GENLEARN_EXCHANGE={site.exchange} GENLEARN_COURSE_ID=genlearn && cd ~ && ")
    for sid, nb in zip(d.students, answers):   # students, in their JupyterLab's terminal
        fetched = hs.as_user(sid, terminal + f"nbgrader fetch_assignment {AID}")
        assert fetched.returncode == 0, fetched.stderr[-2000:]
        _give(sid, Path(pwd.getpwnam(sid).pw_dir) / AID / f"{AID}.ipynb", nbformat.writes(nb).encode())
        submitted = hs.as_user(sid, terminal + f"nbgrader submit {AID}")
        assert submitted.returncode == 0, submitted.stderr[-2000:]
    d.run("instructor", "grade", blocks["grade"][1])
    _grade_written(site.course_dir, d.students, lost=1.0)
    d.run("instructor", "feedback", blocks["feedback"][1])
    for sid in d.students:
        assert list((site.exchange / "genlearn" / "feedback" / sid).glob("*.html")), f"no feedback released to {sid}"
    d.run("instructor", "export", blocks["export"][1])
    source = nbformat.read(gt.SOURCE / AID / f"{AID}.ipynb", 4)
    auto, written = sum(points.values()), gt.written_cells(source)
    wrong = auto - points["test_fit_gaussian"]
    by_hand = sum(max(p - 1.0, 0) for p in written.values())   # each written answer lost a point
    assert _final(site.course_dir / "canvas.csv") == {d.students[0]: auto + by_hand, d.students[1]: wrong + by_hand}

    # docs/instructors.md: the same class through an LMS archive, in the instructor's own course.
    home = Path(pwd.getpwnam(d.instructor).pw_dir)
    _roster(site.workdir / "r.csv", d.students)
    _give(d.instructor, home / "roster.csv", (site.workdir / "r.csv").read_bytes())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i, ((first, last), nb) in enumerate(zip(NAMES, answers)):
            z.writestr(f"{(last + first).lower()}_{5100 + i}_{77000 + i}_{AID}.ipynb", nbformat.writes(nb))
    _give(d.instructor, home / "Downloads" / "submissions.zip", archive.getvalue())
    # The repository the instructor clones is theirs to read (git refuses another user's repository).
    subprocess.run(["chown", "-R", f"{d.instructor}:", str(d.bare)], check=True)
    d.run("instructor", "lms", blocks["lms"][1])
    _grade_written(home / "course", d.students)
    d.run("instructor", "lms-feedback", blocks["lms-feedback"][1])
    full = sum(written.values())
    assert _final(home / "course" / "canvas.csv") == {d.students[0]: auto + full, d.students[1]: wrong + full}
    for sid in d.students:
        assert (home / "course" / "feedback" / sid / AID / f"{AID}.html").exists()
