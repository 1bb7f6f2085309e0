"""Lesson 03's Run All in JupyterLab (headless Chromium) with another training job beside it.

What a student sees on a shared machine: JupyterLab serves a copy of the course (the browser
tests' :class:`browser_support.LabServer`), Chromium opens lesson 03 and runs all cells the
way the browser test does (Run > Run All Cells) and we time it until every cell has run. The
competing job is ``genlearn train vae --data digits`` (a terminal or a second kernel training
the digits VAE, until this script ends it), started 8 s before Run All.

``--threads 2`` gives the kernel and the competing job ``GENLEARN_NUM_THREADS=2``: genlearn's
old default on 2 cores (the CPU quota, set once per process). ``--threads auto`` leaves both to
genlearn's policy (a decision at the start of each training run from the quota and the load).

    python benchmarks/threads_browser.py --threads auto --competitor --repeats 3

Run it alone on the machine (``/work/bin/cpu-quiet``). Appends to
``results/threads_browser.json``, with the thread decisions genlearn made in the kernel (an
IPython startup file of this run logs them; the lesson is not changed) and the CPU seconds
of the kernel's busiest threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "threads_browser.json"
sys.path.insert(0, str(ROOT / "tests"))
import browser_support as bs  # noqa: E402

LESSON = "lessons/03_variational_autoencoders.ipynb"
# Runs in the kernel before the lesson (IPython startup): log every thread decision genlearn
# applies, at the start of a run (configure_threads) and during it (follow_load), once each.
LOG_DECISIONS = """
import json as _json
import genlearn.device as _device
_apply, _last = _device._apply, [None]
def _logged(state, choice):
    if choice is not _last[0]:
        _last[0] = choice
        with open({log!r}, "a") as f:
            f.write(_json.dumps({{"threads": choice.threads, "why": choice.reason}}) + "\\n")
    return _apply(state, choice)
_device._apply = _logged
"""


def kernel_process(server: bs.LabServer) -> psutil.Process:
    kids = [p for p in psutil.Process(server.proc.pid).children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())]
    if len(kids) != 1:
        raise RuntimeError(f"expected one kernel process, found {len(kids)}")
    return kids[0]


def thread_cpu(proc: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def run_once(args, tmp: Path, index: int) -> dict:
    env = {"PYTHONPATH": str(ROOT)}
    if args.threads == "auto":
        os.environ.pop("GENLEARN_NUM_THREADS", None)
    else:
        env["GENLEARN_NUM_THREADS"] = args.threads
    course = bs.copy_course(tmp / f"course{index}", folders=("lessons",), files=())
    home, log = tmp / f"home{index}", tmp / f"decisions{index}.jsonl"
    startup = home / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-log-thread-decisions.py").write_text(LOG_DECISIONS.format(log=str(log)))
    competitor = None
    from playwright.sync_api import sync_playwright

    with bs.LabServer(course, home, extra_env=env) as lab, sync_playwright() as p:
        browser = bs.launch_chromium(p, bs.require_browser())
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(30_000)
        bs.open_notebook(page, lab, LESSON)
        kernel = kernel_process(lab)
        if args.competitor:
            competitor = subprocess.Popen(
                [sys.executable, "-m", "genlearn.cli", "train", "vae", "--data", "digits", "--epochs", "1000000",
                 "--quiet", "--out", str(tmp / f"competitor{index}")],
                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(8)  # imports, data, and into its training loop
        before = thread_cpu(kernel)
        cpu0 = psutil.cpu_times()
        bs.run_all(page)
        try:
            seconds = bs.wait_run_finished(page, args.timeout)
            finished = True
        except AssertionError:
            seconds, finished = args.timeout, False
        cpu1 = psutil.cpu_times()
        after = thread_cpu(kernel)
        competitor_cpu = None
        if competitor is not None:
            competitor_cpu = sum(psutil.Process(competitor.pid).cpu_times()[:2])
            competitor.kill()
            competitor.wait()
        browser.close()
    used = sorted((after[tid] - before.get(tid, 0.0) for tid in after), reverse=True)
    decisions = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    wall_busy = sum(getattr(cpu1, f) - getattr(cpu0, f) for f in ("user", "system", "nice", "irq", "softirq", "steal"))
    return {"threads": args.threads, "competitor": args.competitor, "seconds": round(seconds, 1), "finished": finished,
            "kernel_cpu_s": round(sum(used), 1), "kernel_busiest_threads_cpu_s": [round(u, 1) for u in used[:3]],
            "kernel_thread_decisions": decisions,
            "competitor_cpu_s": None if competitor_cpu is None else round(competitor_cpu, 1),
            "machine_busy_cpus": round(wall_busy / max(seconds, 1e-9), 2),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", choices=("auto", "1", "2"), default="auto")
    ap.add_argument("--competitor", action="store_true", help="run a genlearn training job beside the lesson")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=300.0, help="give up on Run All after this many seconds")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="threads-browser-") as tmp:
        for i in range(args.repeats):
            r = run_once(args, Path(tmp), i)
            rows.append(r)
            print(json.dumps(r), flush=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(old + rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
