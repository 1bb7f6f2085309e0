"""What grading costs: seconds per submission and peak memory, today's code against an earlier one.

For each assignment, ``--students`` copies of the model solution are autograded by real
nbgrader in a temporary course, in these modes, in one run:

* ``plain``: nbgrader's own Execute (the course config without ``configure(c)``): one kernel,
  tests beside the student's code, nothing isolated;
* ``unsandboxed``: genlearn's grading with the sandbox switched off (``allow_unsandboxed``):
  the student's kernel and the grader's kernel, the bridge, the guard and the source scan;
* ``sandbox``: the course's configuration as shipped: both kernels in bubblewrap;
* ``baseline`` (with ``--baseline CHECKOUT``): the shipped configuration of another checkout of
  the repository (its solutions, its nbgrader_config.py and its genlearn, on PYTHONPATH), e.g.
  the commit before the grader's own kernel: ``git worktree add /tmp/base <commit>``.

Seconds per submission are the autograde call's wall time divided by the students; peak
memory is the largest resident set of any process the call ran that the runner could see
(``getrusage(RUSAGE_CHILDREN)``: kernels inside the sandbox's PID namespace are reaped by
bubblewrap and not counted). The slowest cell is read from the autograded notebook's
per-cell timings: the margin to the 20 s cell limit. Modes alternate order between repeats (the VM's speed drifts):

    python benchmarks/grading_sandbox.py [--students 3] [--repeats 2] [--baseline /tmp/base] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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
    "unsandboxed": lambda cfg: cfg + '\nc.Sandbox.bwrap = "genlearn-no-bwrap"\nc.Sandbox.allow_unsandboxed = True\n',
    "sandbox": lambda cfg: cfg,
    "baseline": lambda cfg: cfg,
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


def measure(aid: str, mode: str, students: int, tmp: Path, baseline: Path | None = None) -> dict:
    root = baseline if mode == "baseline" else ROOT
    course = tmp / f"{aid}-{mode}"
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(MODES[mode]((root / "nbgrader_config.py").read_text()))
    shutil.copytree(root / "solutions" / aid, course / "solutions" / aid)
    env = gt.env()
    env["PYTHONPATH"] = str(root)  # that checkout's genlearn, in nbgrader and in the kernels
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", aid, "--force"], cwd=course,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{aid} {mode}: generate_assignment failed:\n{proc.stdout}{proc.stderr}")
    source = nbformat.read(course / "solutions" / aid / f"{aid}.ipynb", 4)
    for i in range(students):
        path = course / "submitted" / f"student{i}" / aid / f"{aid}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(source, str(path))
    cmd = [sys.executable, "-c", RUNNER, sys.executable, "-m", "nbgrader", "autograde", aid, "--force"]
    out = json.loads(subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, check=True).stdout)
    if out["rc"] != 0:
        raise RuntimeError(f"{aid} {mode}: autograde failed:\n{out['tail']}")
    scores = gt.scores(course, aid, "student0")
    full = gt.test_cells(source)
    if {g: scores[g] for g in full} != full:
        raise RuntimeError(f"{aid} {mode}: the solution did not get full marks: {scores}")
    slowest = slowest_cell(course / "autograded" / "student0" / aid / f"{aid}.ipynb")
    return {"seconds_per_submission": out["seconds"] / students, "peak_mb": out["peak_mb"], "slowest_cell": slowest}


def slowest_cell(path: Path) -> tuple[float, str] | None:
    """(seconds, grade_id) of the slowest cell of an autograded notebook, from the start and end
    times the kernel client records in each cell's metadata (None where no cell has them)."""
    from datetime import datetime

    times = []
    for index, cell in enumerate(nbformat.read(path, 4).cells):
        run = cell.metadata.get("execution", {})
        if "iopub.execute_input" in run and "shell.execute_reply" in run:
            start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            times.append(((end - start).total_seconds(), cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")))
    return max(times) if times else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--assignments", nargs="*", default=gt.ASSIGNMENTS)
    parser.add_argument("--modes", nargs="*", default=["plain", "unsandboxed", "sandbox"], choices=list(MODES))
    parser.add_argument("--baseline", type=Path, help="another checkout of the repository (adds the baseline mode)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "grading_sandbox.json")
    args = parser.parse_args()
    modes = list(args.modes) + (["baseline"] if args.baseline and "baseline" not in args.modes else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for aid in args.assignments:
            runs = {m: [] for m in modes}
            for r in range(args.repeats):
                order = modes if r % 2 == 0 else list(reversed(modes))  # drift hits all modes alike
                for mode in order:
                    runs[mode].append(measure(aid, mode, args.students, Path(tmp) / f"r{r}", args.baseline))
            row = {"assignment": aid}
            for mode, results in runs.items():
                row[f"{mode}_s"] = round(statistics.median(x["seconds_per_submission"] for x in results), 2)
                row[f"{mode}_peak_mb"] = round(max(x["peak_mb"] for x in results))
                cells = [x["slowest_cell"] for x in results if x["slowest_cell"]]
                if cells:  # the slowest cell of any run: the margin to the 20 s limit that matters
                    seconds, cell = max(cells)
                    row[f"{mode}_slowest_cell_s"], row[f"{mode}_slowest_cell"] = round(seconds, 2), cell
            for mode in modes:
                if mode != "plain" and "plain" in modes:
                    row[f"{mode}_vs_plain_pct"] = round(100 * (row[f"{mode}_s"] / row["plain_s"] - 1), 1)
            if "baseline" in modes and "sandbox" in modes:
                row["sandbox_vs_baseline_pct"] = round(100 * (row["sandbox_s"] / row["baseline_s"] - 1), 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "students": args.students,
              "repeats": args.repeats, "modes": modes, "baseline": str(args.baseline) if args.baseline else None,
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| assignment | " + " | ".join(f"{m} s" for m in modes) + " | slowest cell (sandbox) |")
    print("|---|" + "---|" * (len(modes) + 1))
    for r in rows:
        slowest = f"{r.get('sandbox_slowest_cell_s', '-')} s ({r.get('sandbox_slowest_cell', '-')})"
        print(f"| {r['assignment']} | " + " | ".join(str(r[f'{m}_s']) for m in modes) + f" | {slowest} |")


if __name__ == "__main__":
    main()
