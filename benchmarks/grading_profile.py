"""Where grading a class spends its CPU: a py-spy profile of ``class_scale.py`` with one worker,
summed by process (runner, nbgrader worker, kernel template, kernels) and, in the kernels, by
what they were doing: imports (by the library module that was first imported), the student's
and the tests' code, ipykernel.

Samples of threads waiting (select, a socket read, a condition) are left out: py-spy's
``--nonblocking`` sampling of many processes cannot tell them apart by itself, so they are
recognised by the frame they wait in.

    pip install py-spy
    python benchmarks/grading_profile.py ex03_gan                   # 10 submissions (no loop), ~1 min
    python benchmarks/grading_profile.py ex03_gan --code /tmp/base  # another checkout's grading

Needs root (py-spy reads the sandboxed kernels' memory). Results: benchmarks/results/
grading_profile.json, one entry per assignment and code.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WAITING = ("EpollSelector.select", "_watch_pipe_fd", "device (zmq", "_read_exact", "Condition.wait", "Event.wait",
           "Poller.poll", "select (", "Thread.join", "_wait_for_tstate_lock", "sleep", "recv", "accept", "waitpid")
LIBRARY = re.compile(r"<module> \(((?:torch|sympy|scipy|matplotlib|IPython|ipykernel|genlearn|numpy|[a-z_]+)/[^:)]*)")


def kind(process: str, frames: list[str]) -> str:
    if "genlearn.course.parallel" in process:  # first: its command line names class_scale's folder
        return "nbgrader worker"
    if "class_scale" in process:
        return "runner"
    if "forkserver" in process:
        return "kernels" if any("ipykernel" in f for f in frames) else "kernel template"
    if "ipykernel" in process:
        return "kernels"
    return "other"


def summarize(raw: Path, submissions: int, rate: int) -> dict:
    """On-CPU seconds by process kind; in the kernels, by first-imported module and by activity."""
    by_kind, imports, activity = collections.Counter(), collections.Counter(), collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        last = max(i for i, p in enumerate(parts) if p.startswith("process "))
        frames = [f for f in parts[last + 1:] if not f.startswith("thread ")]
        if not frames or any(w in frames[-1] for w in WAITING):
            continue
        seconds = int(count) / rate
        k = kind(parts[last], frames)
        by_kind[k] += seconds
        if k != "kernels":
            continue
        first = next((m.group(1) for f in frames if "<module> (<string>)" not in f and (m := LIBRARY.search(f))), None)
        if any("_find_and_load" in f for f in frames) and first:
            imports[first] += seconds
            activity["imports"] += seconds
        elif any("serve.py" in f for f in frames):
            activity["calls from the tests (student's kernel)"] += seconds
        elif any("run_code" in f for f in frames):
            activity["cells"] += seconds
        else:
            activity["ipykernel and the rest"] += seconds
    def rounded(c, n=None):
        return {k: round(v, 2) for k, v in c.most_common(n)}
    return {"submissions": submissions, "cpu_s": rounded(by_kind), "kernels_cpu_s_by_activity": rounded(activity),
            "kernels_import_s_by_module": rounded(imports, 12),
            "kernels_cpu_s_per_submission": round(by_kind["kernels"] / submissions, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("assignment")
    ap.add_argument("--code", type=Path, help="another checkout's grading (class_scale.py --code)")
    ap.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "grading_profile.json")
    args = ap.parse_args()
    if not shutil.which("py-spy"):
        sys.exit("py-spy is not installed: pip install py-spy")
    for course in (HERE / "results" / "tmp" / "class_scale").glob(f"{args.assignment}-1-api-40-*"):
        shutil.rmtree(course)  # graded already: class_scale would find nothing left to grade
    with tempfile.TemporaryDirectory() as tmp:
        raw, result = Path(tmp) / "profile.txt", Path(tmp) / "class_scale.json"
        # students 0-9 of 40: 6 correct, 3 wrong, 1 crashing, no endless loop (class_scale's mix)
        cmd = [sys.executable, str(HERE / "class_scale.py"), args.assignment, "--workers", "1", "--students", "40",
               "--chunk", "1/4", "--out", str(result)] + (["--code", str(args.code)] if args.code else [])
        subprocess.run(["py-spy", "record", "-r", str(args.rate), "--subprocesses", "--nonblocking", "--format", "raw",
                        "-o", str(raw), "--", *cmd], check=True, stdout=subprocess.DEVNULL)
        run = json.loads(result.read_text())[-1]
        if run["failed"] or run["seconds"] < run["graded"]:
            sys.exit(f"the run did not grade as expected: {run}")
        summary = {"assignment": args.assignment, "code": run["mode"].split(" @ ")[-1], "wall_s": run["seconds"],
                   **summarize(raw, run["graded"], args.rate)}
    results = json.loads(args.out.read_text()) if args.out.exists() else []
    results = [r for r in results if (r["assignment"], r["code"]) != (summary["assignment"], summary["code"])] + [summary]
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
