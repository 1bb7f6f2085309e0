"""What a newcomer's PyTorch costs: the same genlearn on two (or more) PyTorch installs.

A fresh ``pip install -e ".[dev]"`` resolves the newest PyTorch pip allows, on Linux a CUDA
build of several GB; CI pins the CPU build of the oldest version pyproject.toml admits. For
each virtual environment given (``--python VENV/bin/python``) this measures:

* the environment's size on disk;
* ``import torch, genlearn.train``: wall time and peak resident memory;
* ``genlearn tour --quiet`` (the README's main job): wall time and peak resident memory.

Runs alternate between the environments (A B A B ...), so a machine whose speed drifts
affects both alike; the table gives medians over ``--repeats`` and the range. Peak memory is
the process's own (``wait4``'s ``ru_maxrss``, in MiB). Writes ``results/torch_builds.json``.

    python benchmarks/torch_builds.py --python /tmp/cpu/bin/python --python /tmp/newest/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
IMPORT = "import torch, genlearn.train"


def measure(argv: list[str], cwd: str) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one run of ``argv``; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # kB on Linux


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def describe(python: str) -> dict:
    code = ("import json, sys, torch; print(json.dumps({'torch': torch.__version__, "
            "'cuda': torch.version.cuda, 'prefix': sys.prefix}))")
    info = json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
    info["env_gb"] = round(folder_bytes(Path(info.pop("prefix"))) / 1e9, 2)
    return info


def summary(values: list[float], digits: int) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "runs": [round(v, digits) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", action="append", required=True, help="an environment's python (give 2+)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS / "torch_builds.json")
    args = parser.parse_args()
    envs = {python: describe(python) for python in args.python}
    runs = {python: {"import": [], "tour": []} for python in args.python}
    with tempfile.TemporaryDirectory() as work:
        for python in args.python:  # a first import warms the file cache, as a second use would
            measure([python, "-c", IMPORT], work)
        for repeat in range(args.repeats):
            for python in args.python:
                runs[python]["import"].append(measure([python, "-c", IMPORT], work))
                out = os.path.join(work, f"tour-{repeat}-{args.python.index(python)}")
                runs[python]["tour"].append(measure([python, "-m", "genlearn.cli", "tour", "--quiet", "--out", out],
                                                    work))
                print(f"  {envs[python]['torch']}: run {repeat + 1}: tour {runs[python]['tour'][-1][0]:.1f} s",
                      flush=True)
    results = []
    for python in args.python:
        row = {"python": python, **envs[python]}
        for what in ("import", "tour"):
            row[f"{what}_s"] = summary([w for w, _ in runs[python][what]], 2)
            row[f"{what}_peak_mib"] = summary([m for _, m in runs[python][what]], 0)
        results.append(row)
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps({"cpus": os.cpu_count(), "repeats": args.repeats, "results": results},
                                    indent=2) + "\n")
    print("| PyTorch | environment on disk | import torch, genlearn.train | its peak memory | genlearn tour "
          "(median, range) | its peak memory |")
    print("|---|---|---|---|---|---|")
    for r in results:
        build = f"{r['torch']} ({'CUDA ' + r['cuda'] if r['cuda'] else 'CPU'} build)"
        print(f"| {build} | {r['env_gb']} GB | {r['import_s']['median']} s | {r['import_peak_mib']['median']:.0f} MiB "
              f"| {r['tour_s']['median']} s ({r['tour_s']['min']}-{r['tour_s']['max']}) "
              f"| {r['tour_peak_mib']['median']:.0f} MiB |")


if __name__ == "__main__":
    sys.exit(main())
