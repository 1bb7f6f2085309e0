"""Training when a busy process arrives (or leaves) during the run: this checkout against an older one.

Until issue 25, genlearn chose the thread count once, at the start of a run; now every
training loop looks at the load once a second (``genlearn.device.follow_load``). Each trial
times one ``genlearn train ...`` process from launch to exit (what a user waits for: imports,
training, evaluation, writing the run), next to a busy process (``while True: pass``, one full
CPU: a second kernel, a classmate on the same Binder host):

* ``arrive``: the busy process starts ``--at`` seconds after the launch (training is under
  way by then) and runs until the training process exits;
* ``leave``: the busy process starts 1 s before the launch and is ended ``--at`` seconds after it;
* ``idle``: no busy process (what following the load costs when there is nothing to follow).

Settings: ``new`` = this checkout, automatic threads; ``old`` = ``--baseline REV`` (default
a2dd35b, main before this change: it chose once per run), exported with ``git archive`` and run the
same way; ``t1``/``t2`` = this checkout with ``GENLEARN_NUM_THREADS=1``/``2`` (fixed counts:
yardsticks). Each round runs every setting once, in an order that rotates from round to round,
so a round's settings see the same machine; ``--repeats`` rounds, medians reported, and the
ratios also taken pair by pair within rounds. A trial records the thread counts the run set
and when (``torch.set_num_threads`` is wrapped in the training process), and the CPU that
other people's processes used meanwhile ("foreign"; a trial over ``--max-foreign`` CPUs is
flagged with *). Run it alone on the machine: anything else running is load it did not plan.

    python benchmarks/threads_midrun.py --model vae-digits --scenarios arrive --repeats 3   # ~6 min
    python benchmarks/threads_midrun.py --model gan-ring --scenarios arrive leave idle
    python benchmarks/threads_midrun.py --table
    python benchmarks/threads_midrun.py --model vae-digits --epochs 20 --at 2 --repeats 1 --no-save  # a quick check

Results are merged into ``results/threads_midrun.json`` (one entry per model, size, scenario
and setting; a rerun replaces its entries); ``--table`` prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "threads_midrun.json"
BASELINE = "a2dd35b"  # genlearn before the thread count followed the load during a run

MODELS = {  # name -> the `genlearn train` arguments (the runs), and the budget flag
    "vae-digits": (["vae", "--data", "digits", "--epochs", "250"], "--epochs"),
    "gan-ring": (["gan", "--data", "ring"], "--steps"),   # the recipe's 1,500 steps
}
SETTINGS = {"new": ("new", None), "old": ("old", None), "t1": ("new", "1"), "t2": ("new", "2")}
CLEARED = ("GENLEARN_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
           "GOMP_SPINCOUNT", "GENLEARN_DEVICE", "PYTHONPATH")

# The training process: `genlearn train ...` with torch.set_num_threads logged to $MIDRUN_LOG
# as (seconds since launch, threads); the first line is torch's count before genlearn chose.
TRAINER = """\
import json, os, sys, time
import torch
launch, log = float(os.environ["MIDRUN_LAUNCH"]), os.environ["MIDRUN_LOG"]
def note(n):
    with open(log, "a") as f:
        f.write(json.dumps([round(time.monotonic() - launch, 2), n]) + "\\n")
note(torch.get_num_threads())
_set = torch.set_num_threads
def logged(n):
    note(n)
    _set(n)
torch.set_num_threads = logged
import genlearn
assert genlearn.__file__.startswith(os.environ["PYTHONPATH"]), f"genlearn from {genlearn.__file__}"
from genlearn.cli import main
sys.exit(main(sys.argv[1:]))
"""
BUSY = "while True: pass"
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, /proc/stat)."""
    from genlearn.device import _busy_jiffies

    return _busy_jiffies(Path("/proc/stat"), None)[0] / TICK


def cpu_s(proc: subprocess.Popen) -> float:
    """CPU seconds used so far by a running child (user + system)."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def export_baseline(rev: str, into: Path) -> Path:
    """``rev``'s genlearn package, from git, into ``into``; the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "genlearn"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def env_for(tree: Path, threads: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = str(tree)
    if threads is not None:
        env["GENLEARN_NUM_THREADS"] = threads
    return env


def start_busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_busy(proc: subprocess.Popen | None) -> float:
    """End the busy process; the CPU seconds it used."""
    if proc is None:
        return 0.0
    used = cpu_s(proc)
    proc.kill()
    proc.wait()
    return used


def trial(args, setting: str, scenario: str, tree: Path, work: Path) -> dict:
    """One run of ``genlearn train`` beside the scenario's busy process; seconds and threads."""
    which, threads = SETTINGS[setting]
    train_args, budget = MODELS[args.model]
    train_args = list(train_args)
    if args.size is not None:
        if budget in train_args:
            train_args[train_args.index(budget) + 1] = str(args.size)
        else:
            train_args += [budget, str(args.size)]
    out = Path(tempfile.mkdtemp(dir=work)) / "run"
    log = out.parent / "threads.jsonl"
    busy = start_busy() if scenario == "leave" else None
    if busy is not None:
        time.sleep(1.0)
    busy_cpu = -cpu_s(busy) if busy is not None else 0.0  # its CPU from the launch on
    machine0 = machine_busy_s()
    launch = time.monotonic()
    env = {**env_for(tree, threads), "MIDRUN_LAUNCH": repr(launch), "MIDRUN_LOG": str(log)}
    with open(out.parent / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", TRAINER, "train", *train_args, "--out", str(out), "--quiet"],
                                env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=stderr)
    switch_at = None if scenario == "idle" else launch + args.at
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if switch_at is not None else 0)
        if pid:
            break
        if switch_at is not None and time.monotonic() >= switch_at:
            if scenario == "arrive":
                busy = start_busy()
            else:
                busy_cpu += stop_busy(busy)
                busy = None
            switch_at = None
        else:
            time.sleep(0.02)
    wall = time.monotonic() - launch
    busy_cpu += stop_busy(busy)
    machine = machine_busy_s() - machine0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, by wait4 (for its CPU time)
    if proc.returncode != 0:
        text = (out.parent / "stderr.txt").read_text(errors="replace")
        raise RuntimeError(f"{setting}/{scenario}: genlearn train exited with {proc.returncode}:\n{text[-2000:]}")
    trainer_cpu = usage.ru_utime + usage.ru_stime
    metrics = json.loads((out / "metrics.json").read_text())
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    return {"seconds": round(wall, 2), "train_seconds": metrics["train_seconds"],
            "threads": steps, "cpu_s": round(trainer_cpu, 2),
            "foreign_cpus": round(max(0.0, (machine - trainer_cpu - busy_cpu) / wall), 2)}


def entry_key(e: dict) -> tuple:
    return (e["model"], e["size"], e["at"], e["scenario"], e["setting"])


def merge(entries: list[dict]) -> list[dict]:
    old = json.loads(RESULTS.read_text())["entries"] if RESULTS.exists() else []
    rows = {entry_key(e): e for e in old}
    rows.update({entry_key(e): e for e in entries})
    order = list(SETTINGS)
    ordered = sorted(rows.values(), key=lambda e: (e["model"], str(e["size"]), e["at"],
                                                   ["arrive", "leave", "idle"].index(e["scenario"]),
                                                   order.index(e["setting"])))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"about": __doc__.splitlines()[0], "entries": ordered}, indent=1) + "\n")
    return ordered


def paired(a: dict, b: dict) -> float:
    return statistics.median(x / y for x, y in zip(a["seconds"], b["seconds"]))


def thread_story(e: dict) -> str:
    """The thread counts of each run, e.g. '2>1@7.1' (2 threads, 1 from 7.1 s after launch)."""
    runs = []
    for steps in e["threads"]:
        text, last = str(steps[0][1]), steps[0][1]
        for t, n in steps[1:]:
            if n != last:
                text += f">{n}@{t:g}"
                last = n
        runs.append(text)
    return "; ".join(runs)


def table(rows: list[dict]) -> str:
    """One row per model, size, scenario and setting: median seconds, ratios to new (paired)."""
    head = ["model", "size", "busy process", "setting", "seconds (each run)", "median s", "train s (median)",
            "/ new (paired)", "threads (count>count@s after launch)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups: dict[tuple, dict] = {}
    for e in rows:
        groups.setdefault((e["model"], e["size"], e["at"], e["scenario"]), {})[e["setting"]] = e
    for (model, size, at, scenario), by in groups.items():
        where = {"arrive": f"starts at {at:g} s", "leave": f"ends at {at:g} s", "idle": "none"}[scenario]
        for setting, e in by.items():
            flag = "*" if e["foreign_cpus"] > e["max_foreign"] else ""
            ratio = f"{paired(e, by['new']):.2f}" if "new" in by and setting != "new" else "-"
            lines.append("| " + " | ".join([
                model, str(size or "recipe"), where, setting,
                ", ".join(f"{s:.1f}" for s in e["seconds"]) + flag, f"{e['median_s']:.1f}",
                f"{statistics.median(e['train_seconds']):.1f}", ratio, thread_story(e)]) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(MODELS))
    ap.add_argument("--scenarios", nargs="+", choices=["arrive", "leave", "idle"], default=["arrive"])
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["old", "new", "t1"])
    ap.add_argument("--at", type=float, default=6.0, help="seconds after launch when the busy process starts (arrive) "
                                                         "or ends (leave); default 6")
    ap.add_argument("--size", "--epochs", "--steps", dest="size", type=int,
                    help="the run's --epochs (VAE) or --steps (GAN) instead of the issue's")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default=BASELINE, help="the git revision to compare with (default %(default)s)")
    ap.add_argument("--max-foreign", type=float, default=0.2,
                    help="CPUs other people's processes may use during a trial before it is flagged")
    ap.add_argument("--no-save", action="store_true", help="print, but do not merge into results/")
    ap.add_argument("--table", action="store_true", help="print the table of results/threads_midrun.json and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(table(json.loads(RESULTS.read_text())["entries"]))
        return
    if not args.model:
        ap.error("--model is required")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    entries = []
    with tempfile.TemporaryDirectory(prefix="threads-midrun-") as tmp:
        work = Path(tmp)
        trees = {"new": ROOT}
        if any(SETTINGS[s][0] == "old" for s in args.settings):
            trees["old"] = export_baseline(args.baseline, Path(tempfile.mkdtemp(dir=work)))
        for scenario in args.scenarios:
            rounds = []
            for r in range(args.repeats):
                order = args.settings[r % len(args.settings):] + args.settings[:r % len(args.settings)]
                results = {}
                for setting in order:
                    results[setting] = res = trial(args, setting, scenario, trees[SETTINGS[setting][0]], work)
                    print(f"{args.model} {scenario} round {r + 1} {setting}: {res['seconds']:.1f} s "
                          f"(training {res['train_seconds']:.1f} s; threads {res['threads']}; "
                          f"others used {res['foreign_cpus']:.2f} CPUs)", flush=True)
                rounds.append(results)
            for setting in args.settings:
                rs = [r[setting] for r in rounds]
                seconds = [r["seconds"] for r in rs]
                entries.append({
                    "model": args.model, "size": args.size, "at": args.at, "scenario": scenario,
                    "setting": setting, "code": args.baseline if SETTINGS[setting][0] == "old" else "this checkout",
                    "GENLEARN_NUM_THREADS": SETTINGS[setting][1], "median_s": round(statistics.median(seconds), 2),
                    "seconds": seconds, "train_seconds": [r["train_seconds"] for r in rs],
                    "threads": [r["threads"] for r in rs], "cpu_s": [r["cpu_s"] for r in rs],
                    "foreign_cpus": max(r["foreign_cpus"] for r in rs), "max_foreign": args.max_foreign,
                    "cpus": len(os.sched_getaffinity(0)), "date": time.strftime("%Y-%m-%d %H:%M"),
                })
    rows = entries if args.no_save else merge(entries)
    print(table([e for e in rows if e["model"] == args.model]))


if __name__ == "__main__":
    main()
