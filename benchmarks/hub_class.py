"""A class of 30 on the one-machine hub, end to end, with the course's exchange (as root).

hub/ installed as docs/hub.md says (a temporary prefix, or GENLEARN_HUB_TEST_PREFIX), an
instructor and 30 students made with `genlearn-course accounts`, the course with `genlearn-course
setup` (as root: each student's own exchange folders), the hub started with its start command.
Then, timed phase by phase:

    login     each student logs in with their password and gets their JupyterLab (one after another)
    fetch     each fetches ex01 through their Assignments API
    submit    28 submit (22 right, 6 with one of the assignment's wrong-submission fixtures); 2 never do
    collect   the instructor collects through formgrader's API (the exchange: snapshot, checks, report)
    grade     `genlearn-course autograde ex01_likelihood --workers 2`, as the instructor in a login shell
    export    `genlearn-course export --canvas --moodle`, as the instructor

and checks that every student got the score their submission deserves. Writes
benchmarks/results/hub_class.json. Everything is removed at the end (tests/hub_support.py).

    sudo python benchmarks/hub_class.py --students 30
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
import grading_tools as gt  # noqa: E402
import hub_support as hs  # noqa: E402

AID = "ex01_likelihood"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--absent", type=int, default=2, help="students who never submit")
    args = ap.parse_args()
    hs.check_can_run()
    reuse = os.environ.get("GENLEARN_HUB_TEST_PREFIX")
    prefix = hs.open_dir(Path(reuse)) if reuse else hs.new_workdir("genlearn-hub-prefix-")
    tag = hs.new_tag()
    work = hs.new_workdir()
    site = hs.HubSite(prefix, work, tag=tag)
    phases, out = {}, {"students": args.students, "submitted": args.students - args.absent}
    try:
        t = time.perf_counter()
        hs.install(prefix, work / "install.log", tag)
        out["install_s"] = round(time.perf_counter() - t, 1)
        ids = [f"{tag}s{i:02d}" for i in range(args.students)]
        roster = work / "roster.csv"
        with roster.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "first_name", "last_name", "email"])
            w.writerows([sid, f"First{i}", f"Last{i}", f"{sid}@example.org"] for i, sid in enumerate(ids))
        instructor = f"{tag}inst"
        passwords = site.add_users(roster, instructors=[instructor])
        site.course_cli("setup", str(site.course_dir), "--source", str(ROOT), "--exchange", str(site.exchange),
                        "--assignment", AID, "--roster", str(roster), "--group", site.instructors)
        out["hub_start_s"] = round(site.start(), 1)
        users = {n: hs.HubUser(site, n, passwords[n]) for n in [instructor, *ids]}

        def phase(name, fn):
            start = time.perf_counter()
            result = fn()
            phases[name] = round(time.perf_counter() - start, 2)
            print(f"{name}: {phases[name]} s", flush=True)
            return result

        def login_all():
            per = []
            for user in users.values():
                s = time.perf_counter()
                user.login()
                user.spawn()
                user.lab_ready()
                per.append(time.perf_counter() - s)
            return per
        per_login = phase("login", login_all)
        out["login_per_user_s"] = {"mean": round(sum(per_login) / len(per_login), 2),
                                   "min": round(min(per_login), 2), "max": round(max(per_login), 2)}
        teacher = users[instructor]
        for step in ("assign", "release"):
            r = teacher.server("POST", f"formgrader/api/assignment/{AID}/{step}")
            assert r.status_code == 200 and r.json().get("success", True), r.text[-2000:]
        phase("fetch", lambda: [users[s].server("POST", "assignments/fetch",
                                                 data={"course_id": "genlearn", "assignment_id": AID}) for s in ids])
        source = nbformat.read(site.course_dir / "solutions" / AID / f"{AID}.ipynb", 4)
        release = nbformat.read(site.course_dir / "exercises" / AID / f"{AID}.ipynb", 4)
        right = gt.student_notebook(source, release)
        fixtures = list(gt.load_fixtures(AID).SUBMISSIONS.items())
        expected, kinds = {}, {}
        for i, sid in enumerate(ids[: len(ids) - args.absent]):
            if i % 5 == 4 and fixtures:
                name, spec = fixtures[(i // 5) % len(fixtures)]
                nb, kinds[sid] = gt.apply_edits(right, spec), name
            else:
                nb, kinds[sid] = right, "right"
            r = users[sid].server("PUT", f"api/contents/{AID}/{AID}.ipynb",
                                  json={"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))})
            assert r.status_code in (200, 201), r.text[:300]
        for sid in ids[len(ids) - args.absent:]:
            kinds[sid] = "absent"

        def submit_all():
            for sid in ids[: len(ids) - args.absent]:
                r = users[sid].server("POST", "assignments/submit", data={"course_id": "genlearn", "assignment_id": AID})
                assert r.status_code == 200 and r.json().get("success"), r.text[-1000:]
        phase("submit", submit_all)
        r = phase("collect", lambda: teacher.server("POST", f"formgrader/api/assignment/{AID}/collect"))
        assert r.status_code == 200 and r.json().get("success"), r.text[-2000:]
        report = json.loads((site.course_dir / "logs" / "collect" / f"{AID}.json").read_text())
        out["collected"] = len(report["collected"])
        graded = phase("grade", lambda: hs.as_user(instructor, f"cd {site.course_dir} && genlearn-course autograde "
                                                               f"{AID} --workers 2", timeout=3600))
        assert graded.returncode == 0, graded.stderr[-3000:]
        out["autograde"] = {k: v for k, v in json.loads(graded.stdout).items() if k in ("submissions", "rows", "lost", "failed")}
        exported = phase("export", lambda: hs.as_user(instructor, f"cd {site.course_dir} && genlearn-course export "
                                                                  "--canvas canvas.csv --moodle moodle.csv"))
        assert exported.returncode in (0, 1), exported.stderr[-2000:]  # 1: written answers not graded by hand
        rows = {r["SIS Login ID"]: float(r[AID]) for r in csv.DictReader((site.course_dir / "canvas.csv").open())
                if r["Student"].strip() != "Points Possible"}
        for sid, kind in kinds.items():
            if kind == "absent":
                expected[sid] = 0.0
            elif kind == "right":
                expected[sid] = 16.0
        wrong_ok = all(rows[s] < 16.0 for s, k in kinds.items() if k not in ("right", "absent"))
        out["scores_right"] = all(rows[s] == v for s, v in expected.items()) and wrong_ok
        out["phases_s"] = phases
        out["date"] = time.strftime("%Y-%m-%d")
    finally:
        site.close()
        hs.remove_profile(tag)
        if not reuse:
            import shutil

            shutil.rmtree(prefix, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hub_class.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
