"""What the grading sandbox and tamper guard cost: seconds per submission and peak memory.

For each assignment, ``--students`` copies of the model solution are autograded by real
nbgrader in a temporary course, three ways, in one run:

* ``plain``: nbgrader's own Execute (the course config without ``configure(c)``);
* ``guard``: genlearn's SandboxedExecute with the sandbox switched off (allow_unsandboxed):
  the audit-hook guard and the source scan alone;
* ``sandbox``: the course's configuration as shipped: sandbox and guard.

Seconds per submission are the autograde call's wall time divided by the students; peak
memory is the largest resident set of any process the call ran (the kernel, in practice),
from ``getrusage(RUSAGE_CHILDREN)`` of a fresh runner per call. Run alone on a quiet machine:

    python benchmarks/grading_sandbox.py [--students 4] [--repeats 2] [--out benchmarks/results/grading_sandbox.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import grading_tools as gt  # noqa: E402
import nbformat  # noqa: E402

MODES = {
    "plain": lambda cfg: cfg.replace("configure(c)", "pass  # configure(c): nbgrader's own Execute"),
    "guard": lambda cfg: cfg + '\nc.Sandbox.bwrap = "genlearn-no-bwrap"\nc.Sandbox.allow_unsandboxed = True\n',
    "sandbox": lambda cfg: cfg,
}

RUNNER = """
import resource, subprocess, sys, time, json
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - start
print(json.dumps({"rc": proc.returncode, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "tail": (proc.stdout + proc.stderr)[-1500:]}))
"""


def measure(aid: str, mode: str, students: int, tmp: Path) -> dict:
    course = gt.new_course(tmp / f"{aid}-{mode}", [aid])
    config = course / "nbgrader_config.py"
    config.write_text(MODES[mode](config.read_text()))
    gt.generate(course, aid)
    source = nbformat.read(course / "solutions" / aid / f"{aid}.ipynb", 4)
    for i in range(students):
        path = course / "submitted" / f"student{i}" / aid / f"{aid}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(source, str(path))
    cmd = [sys.executable, "-c", RUNNER, sys.executable, "-m", "nbgrader", "autograde", aid, "--force"]
    out = json.loads(subprocess.run(cmd, cwd=course, env=gt.env(), capture_output=True, text=True, check=True).stdout)
    if out["rc"] != 0:
        raise RuntimeError(f"{aid} {mode}: autograde failed:\n{out['tail']}")
    scores = gt.scores(course, aid, "student0")
    full = gt.test_cells(source)
    if {g: scores[g] for g in full} != full:
        raise RuntimeError(f"{aid} {mode}: the solution did not get full marks: {scores}")
    return {"seconds_per_submission": out["seconds"] / students, "peak_mb": out["peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--assignments", nargs="*", default=gt.ASSIGNMENTS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "grading_sandbox.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for aid in args.assignments:
            runs = {m: [] for m in MODES}
            for r in range(args.repeats):
                order = list(MODES) if r % 2 == 0 else list(reversed(MODES))  # drift hits all modes alike
                for mode in order:
                    runs[mode].append(measure(aid, mode, args.students, Path(tmp) / f"r{r}"))
            row = {"assignment": aid}
            for mode, results in runs.items():
                row[f"{mode}_s"] = round(statistics.median(x["seconds_per_submission"] for x in results), 2)
                row[f"{mode}_peak_mb"] = round(max(x["peak_mb"] for x in results))
            row["sandbox_overhead_pct"] = round(100 * (row["sandbox_s"] / row["plain_s"] - 1), 1)
            row["guard_overhead_pct"] = round(100 * (row["guard_s"] / row["plain_s"] - 1), 1)
            rows.append(row)
            print(json.dumps(row))
    result = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs", "students": args.students,
              "repeats": args.repeats, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| assignment | plain s | guard s | sandbox s | sandbox overhead | plain MB | sandbox MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['assignment']} | {r['plain_s']} | {r['guard_s']} | {r['sandbox_s']} | "
              f"{r['sandbox_overhead_pct']:+.1f}% | {r['plain_peak_mb']} | {r['sandbox_peak_mb']} |")


if __name__ == "__main__":
    main()
