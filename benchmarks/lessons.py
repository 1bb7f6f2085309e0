"""Execute every lesson and measure its wall time and the kernel's peak memory.

Each lesson runs in a fresh kernel started by a fresh runner process, so the runner's
``RUSAGE_CHILDREN`` peak is the kernel's own peak resident memory. Writes
``benchmarks/results/lessons.json`` and prints a Markdown table (targets: <= 60 s and
<= 1.5 GB per lesson on 2 CPU cores).

    python benchmarks/lessons.py [lessons/03_*.ipynb ...] [--save DIR]

``--save DIR`` also writes each executed notebook to DIR (outputs included), to read a
lesson's prose beside what it printed and drew; the run's times are the same with or without.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"

RUNNER = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[2])
import nbformat
from notebook_runner import execute, outputs
nb, seconds = execute(__import__("pathlib").Path(sys.argv[1]))
errors = outputs(nb, "error")
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if len(sys.argv) > 3:
    nbformat.write(nb, sys.argv[3])
print(json.dumps({"seconds": round(seconds, 1), "peak_mb": round(peak_mb), "errors": len(errors)}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lessons", nargs="*", type=Path)
    ap.add_argument("--save", type=Path, metavar="DIR", help="also write each executed notebook to DIR")
    args = ap.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    lessons = args.lessons or sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
    rows = []
    for path in lessons:
        save = [str((args.save / path.name).resolve())] if args.save else []
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(path.resolve()), str(ROOT / "tests"), *save],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            row = {"lesson": path.stem, "seconds": None, "peak_mb": None, "errors": proc.stderr.strip().splitlines()[-1:]}
        else:
            row = {"lesson": path.stem, **json.loads(proc.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("lessons.json" if not args.lessons else "lessons_partial.json")
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| lesson | wall time (s) | kernel peak memory (MB) |\n|---|---|---|")
    for r in rows:
        print(f"| {r['lesson']} | {r['seconds']} | {r['peak_mb']} |")


if __name__ == "__main__":
    main()
