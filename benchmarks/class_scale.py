"""Grading a class: 200 synthetic submissions of one assignment, plain ``nbgrader autograde``
(one process, one submission after another) vs ``genlearn-course autograde --workers N``.

The 200 submissions repeat one block of 20: 12 correct, 5 partly wrong (the assignment's
wrong-submission fixtures, in turn), 2 crashing (the answer cell raises) and 1 looping
forever (interrupted by the 20 s cell timeout). Any multiple of 20 students has that mix.

Measured per run: wall time, seconds per submission, peak resident memory of everything the
run started (sampled every 0.2 s: the grading processes and their kernels; RSS counts shared
libraries once per process, so it overestimates), gradebook rows for the assignment, and
that every student got the score their submission deserves (the same for both modes).

Also per run: how busy the machine's CPUs were (from /proc/stat, so on a quiet machine) and,
from each submission's grading report, where the time went
(kernel start, guard and bridge, the student's cells, the grader's cells; medians).

A run can be split into chunks so that each fits a short quiet window; the chunks of one
run grade into the same course folder and gradebook, and the table adds their times. With
``--code CHECKOUT`` the grading (workers, nbgrader's config, the kernels) runs another
checkout's genlearn, so that today's code and a change can be measured side by side, chunk
by chunk in turns (the machine's speed drifts):

    python benchmarks/class_scale.py ex01_likelihood --workers 2 --chunk 1/2   # students 0-99
    python benchmarks/class_scale.py ex01_likelihood --workers 2 --chunk 2/2   # 100-199, then checks all 200
    python benchmarks/class_scale.py ex01_likelihood --workers 2 --chunk 1/4 --code /tmp/main  # another checkout
    python benchmarks/class_scale.py ex01_likelihood --serial --students 40    # plain nbgrader on 40
    python benchmarks/class_scale.py --report                                  # the table

Courses live in benchmarks/results/tmp/class_scale/ (ignored by git); results in
benchmarks/results/class_scale.json (``--out`` for another file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
WORK = RESULTS / "tmp" / "class_scale"
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _code_from_argv() -> Path:
    """The checkout whose genlearn grades (``--code``, read before genlearn is imported)."""
    for i, arg in enumerate(sys.argv):
        if arg == "--code" and i + 1 < len(sys.argv):
            return Path(sys.argv[i + 1]).resolve()
        if arg.startswith("--code="):
            return Path(arg.split("=", 1)[1]).resolve()
    return ROOT


CODE = _code_from_argv()
if not (CODE / "genlearn" / "__init__.py").is_file():
    sys.exit(f"--code {CODE}: not a checkout of genlearn (no genlearn/__init__.py)")
sys.path.insert(0, str(CODE))
# nbgrader's workers inherit it, this checkout's own included (without it they would import the
# genlearn pip installed, wherever that is); each kernel imports the genlearn its worker runs
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE), os.environ.get("PYTHONPATH")]))
import grading_tools as gt  # noqa: E402
from genlearn.course import create, parallel  # noqa: E402
from genlearn.course.config import load_course, nbgrader_env  # noqa: E402

assert Path(parallel.__file__).resolve().is_relative_to(CODE), parallel.__file__


def check_workers_code() -> None:
    """Exit unless a process started as the workers are (this environment, another folder)
    imports the grading code from CODE: a check of the subprocesses, not just of this one."""
    where = subprocess.run([sys.executable, "-c", "import genlearn.grading.execute as e; print(e.__file__)"],
                           env=nbgrader_env(), cwd="/", capture_output=True, text=True).stdout.strip()
    if not where or not Path(where).resolve().is_relative_to(CODE):
        sys.exit(f"the grading workers would import genlearn from {where or '?'}, not from {CODE}")


def code_label(checkout: Path = CODE) -> str:
    """The commit the grading code is at, with '+' when the checkout has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True).stdout.strip()
    return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain", "--", "genlearn") else "")

N = 200
BLOCK = ["correct"] * 12 + ["wrong"] * 5 + ["crash"] * 2 + ["loop"]
ORDER = [0, 12, 1, 2, 17, 3, 13, 4, 5, 14, 6, 18, 7, 15, 8, 9, 16, 10, 19, 11]  # kinds interleaved
KINDS = [BLOCK[i] for i in ORDER]


def student(i: int) -> str:
    return f"s{i:03d}"


class PeakRSS:
    """The largest total resident memory of this process and all its descendants (``peak``, RSS:
    shared pages once per process), the largest total proportional set size (``peak_pss``:
    shared pages split among the processes sharing them, so forked kernels do not count their
    template's pages again; read every ``pss_every``-th sample, it costs more) and how far the
    machine's MemAvailable fell below where it started (``drop``)."""

    def __init__(self, every: float = 0.2, pss_every: int = 5):
        self.every, self.pss_every, self._stop = every, pss_every, threading.Event()
        self.peak = self.peak_pss = self.drop = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def pss(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return 0

    def _run(self):
        me, start, n = psutil.Process(), psutil.virtual_memory().available, 0
        while not self._stop.is_set():
            total, procs = 0, [me, *me.children(recursive=True)]
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            if n % self.pss_every == 0:
                self.peak_pss = max(self.peak_pss, sum(self.pss(p.pid) for p in procs))
                self.drop = max(self.drop, start - psutil.virtual_memory().available)
            n += 1
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def submissions(course: Path, aid: str, indices) -> dict:
    """Write the synthetic submissions of ``indices``; returns student -> kind."""
    source = nbformat.read(course / "solutions" / aid / f"{aid}.ipynb", 4)
    release = nbformat.read(course / "exercises" / aid / f"{aid}.ipynb", 4)
    solved = gt.student_notebook(source, release)
    fixtures = gt.load_fixtures(aid)
    wrong = [gt.apply_edits(solved, spec, release) for spec in fixtures.SUBMISSIONS.values()]
    robust = gt.robustness_submissions(fixtures.ROBUSTNESS)
    crash, loop = (gt.apply_edits(solved, robust[k], release) for k in ("exception", "infinite-loop"))
    kinds = {}
    for i in indices:
        kind = KINDS[i % len(KINDS)]
        nb = {"correct": solved, "crash": crash, "loop": loop}.get(kind) or wrong[(i // len(KINDS)) % len(wrong)]
        folder = course / "submitted" / student(i) / aid
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(folder / f"{aid}.ipynb"))
        kinds[student(i)] = kind
    return kinds


def prepare(aid: str, name: str, indices) -> Path:
    """A course folder from `genlearn-course setup` with the release generated and the submissions."""
    course = WORK / f"{aid}-{name}"
    if not (course / "exercises" / aid).exists():
        shutil.rmtree(course, ignore_errors=True)
        create.create_course(create.CourseSpec(course, ROOT, exchange=WORK / "exchange", assignments=[aid]))
        gt.generate(course, aid)
    submissions(course, aid, indices)
    return course


def scores(course: Path, aid: str, students) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genlearn") as gb:
        for sid in students:
            try:
                out[sid] = gb.find_submission(aid, sid).code_score
            except MissingEntry:
                out[sid] = None
    return out


def machine_busy_seconds() -> float:
    """CPU-seconds the whole machine spent busy so far (/proc/stat: everything but idle and iowait).
    Per run, the difference says how much of the CPUs grading used: the kernels run in sandboxes
    whose processes the runner never waits for, so its own rusage cannot see them."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def phases(course: Path, aid: str, students) -> dict:
    """Median seconds per grading phase over the students' grading reports (sandboxed grading)."""
    timings = []
    for sid in students:
        for path in (course / "grading_reports" / aid / sid).glob("*.json"):
            report = json.loads(path.read_text())
            timings.append({"whole notebook": report.get("seconds", 0.0), **report.get("timings", {})})
    keys = sorted({k for t in timings for k in t})
    return {k: round(statistics.median(t.get(k, 0.0) for t in timings), 2) for k in keys} if timings else {}


def default_workers() -> tuple[int, str]:
    """The workers CODE's ``genlearn-course autograde`` chooses when not told: its
    ``default_workers()`` where it has one, else ``autograde_class``'s default argument."""
    if hasattr(parallel, "default_workers"):
        return parallel.default_workers()
    import inspect
    return inspect.signature(parallel.autograde_class).parameters["workers"].default, "the code's fixed default"


def run(aid: str, workers: int | None, chunk: tuple[int, int], students_n: int, grader: str = "api",
        default: bool = False) -> dict:
    k, of = chunk
    indices = list(range(students_n))
    part = indices[(k - 1) * len(indices) // of: k * len(indices) // of]
    code = code_label()
    mode = (f"{workers} workers{', its default' if default else ''} ({grader})" if workers else "nbgrader autograde") + f" @ {code}"
    course = prepare(aid, f"{workers or 0}-{grader}-{students_n}-{code}", part)
    ids = [student(i) for i in part]
    load_before = round(os.getloadavg()[0], 2)
    busy0 = machine_busy_seconds()
    start = time.perf_counter()
    with PeakRSS() as mem:
        if workers:
            result = parallel.autograde_class(course, aid, ids, workers=workers, mode=grader)
            failed, locked = result.failed, sum(r.locked for r in result.results)
        else:  # the instructor's usual command: every collected submission in one process
            proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", aid], cwd=course,
                                  env=nbgrader_env(), capture_output=True, text=True)
            failed, locked = ([] if proc.returncode == 0 else ["(exit %d)" % proc.returncode]), 0
    seconds = time.perf_counter() - start
    busy = machine_busy_seconds() - busy0
    everyone = [student(i) for i in range(students_n)]
    rows, lost = parallel.verify(load_course(course)[1], aid, everyone[: k * len(everyone) // of])
    got = scores(course, aid, ids)
    return {"assignment": aid, "mode": mode, "students": students_n, "chunk": f"{k}/{of}", "graded": len(ids),
            "seconds": round(seconds, 1), "machine_busy_s": round(busy, 1), "cpus": os.cpu_count(), "load_before": load_before,
            "phases": phases(course, aid, ids), "peak_mb": round(mem.peak / 2**20),
            "peak_pss_mb": round(mem.peak_pss / 2**20), "mem_available_drop_mb": round(mem.drop / 2**20), "rows_so_far": rows,
            "lost": lost, "failed": failed, "locked_retries": locked, "scores": got,
            "kinds": {sid: KINDS[int(sid[1:]) % len(KINDS)] for sid in ids}}


def report(results: list) -> str:
    groups = {}
    for r in results:
        groups.setdefault((r["assignment"], r["mode"], r["students"]), []).append(r)
    lines = ["| assignment | mode @ code | submissions graded | wall s | s / submission | CPUs busy | peak MB "
             "| peak PSS MB | MemAvailable fell MB | rows | lost | failed | 200 extrapolated, min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (aid, mode, n), chunks in sorted(groups.items()):
        graded = sum(c["graded"] for c in chunks)
        seconds = sum(c["seconds"] for c in chunks)
        per = seconds / graded
        rows = max(c["rows_so_far"] for c in chunks)
        lost = sum(len(c["lost"]) for c in chunks)
        failed = sum(len(c["failed"]) for c in chunks)
        extrapolated = f"{per * N / 60:.1f}" + ("" if graded == N else " (extrapolated)")
        def pss(key):  # blank for chunks measured before it was recorded
            return max(c[key] for c in chunks) if all(key in c for c in chunks) else ""
        # how busy the machine was (all of it, grading or not): blank for chunks measured before this was recorded
        cpu = (f"{100 * sum(c['machine_busy_s'] for c in chunks) / sum(c['seconds'] * c['cpus'] for c in chunks):.0f}%"
               if all("machine_busy_s" in c for c in chunks) else "")
        lines.append(f"| {aid} | {mode} ({len(chunks)} chunk{'s' * (len(chunks) > 1)}) | {graded} | {seconds:.0f} | "
                     f"{per:.2f} | {cpu} | {max(c['peak_mb'] for c in chunks)} | {pss('peak_pss_mb')} | "
                     f"{pss('mem_available_drop_mb')} | {rows} | {lost} | {failed} | {extrapolated} |")
    # The same submission must get the same score whichever way it was graded.
    by_student = {}
    for r in results:
        for sid, score in r["scores"].items():
            by_student.setdefault((r["assignment"], sid), set()).add(score)
    disagree = sorted(k for k, v in by_student.items() if len(v) > 1)
    # Where a submission's time went, from the grading reports (median per phase, over each chunk's
    # submissions; a run's chunks are weighted by their sizes)
    timed = {key: chunks for key, chunks in groups.items() if any(c.get("phases") for c in chunks)}
    if timed:
        names = sorted({p for chunks in timed.values() for c in chunks for p in c.get("phases", {})},
                       key=lambda p: (p == "whole notebook", p))
        lines += ["", "Median seconds per submission, by phase (grading reports):", "",
                  "| assignment | mode @ code | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for (aid, mode, n), chunks in sorted(timed.items()):
            total = sum(c["graded"] for c in chunks if c.get("phases"))
            cells = [sum(c["phases"].get(p, 0.0) * c["graded"] for c in chunks if c.get("phases")) / total for p in names]
            lines.append(f"| {aid} | {mode} | " + " | ".join(f"{v:.2f}" for v in cells) + " |")
    lines.append("")
    lines.append(f"Scores of submissions graded in more than one mode: {len(disagree)} disagree"
                 + (f" ({disagree[:5]})" if disagree else ""))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment", nargs="?")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--workers", type=int, help="genlearn-course autograde with N workers")
    mode.add_argument("--default-workers", action="store_true",
                      help="as many workers as the grading code's autograde chooses by itself (its default)")
    mode.add_argument("--serial", action="store_true", help="plain `nbgrader autograde` (one process)")
    ap.add_argument("--grader", choices=("api", "cli"), default="api", help="how each worker grades (see genlearn.course.parallel)")
    ap.add_argument("--students", type=int, default=N, help="grade the first K of the 200 (a multiple of 20)")
    ap.add_argument("--chunk", default="1/1", help="k/n: grade the k-th of n equal parts")
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose genlearn grades (default: this one)")
    ap.add_argument("--out", type=Path, default=RESULTS / "class_scale.json", help="the results file (JSON)")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    path = args.out
    results = json.loads(path.read_text()) if path.exists() else []
    if not args.report:
        if not args.assignment or not (args.workers or args.serial or args.default_workers):
            ap.error("name an assignment and --workers N, --default-workers or --serial")
        if args.default_workers:
            args.workers, why = default_workers()
            print(f"{args.workers} workers, the default of the code at {code_label()} ({why})", flush=True)
        k, of = (int(x) for x in args.chunk.split("/"))
        check_workers_code()
        r = run(args.assignment, args.workers, (k, of), args.students, args.grader, args.default_workers)
        results = [x for x in results if (x["assignment"], x["mode"], x["students"], x["chunk"])
                   != (r["assignment"], r["mode"], r["students"], r["chunk"])] + [r]
        path.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps({k: v for k, v in r.items() if k not in ("scores", "kinds")}))
    print(report(results))


if __name__ == "__main__":
    main()
