"""How many CPU threads should genlearn train with, on an idle and on a busy machine?

Sweeps thread settings x load x model. A timed run trains the course's recipe
(``genlearn.recipes``) for a fixed number of steps and takes the wall time of the training
call, which includes everything a user waits for, also genlearn's own thread decision (a
0.05 s load sample). Settings:

* ``t1``, ``t2``: 1 or 2 threads (``GENLEARN_NUM_THREADS``); ``t2`` is genlearn's old default
  on 2 cores (the CPU quota, set once per process);
* ``auto``: genlearn's automatic choice, made at the start of each run;
* ``t2-passive``: 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` (waiting OpenMP threads sleep at
  once instead of spinning); ``t2-spin10k``/``t2-spin1k``: ``GOMP_SPINCOUNT`` 10,000/1,000
  spins instead of libgomp's 300,000.

``t1``, ``t2`` and ``auto`` run in the same process, one after the other (the variable is read
at each decision); the OpenMP variants need a process of their own (OpenMP reads its
environment when torch is imported). Each round starts fresh processes, warms them up, and
runs every setting once, in an order that rotates from round to round; ``--repeats`` rounds,
medians reported. Why so careful: on this project's shared VM the same run took 1.6-3.5 s
from one minute to the next, and two processes doing the same work differed by up to 15%.

Load: ``--loads 0 1 2`` competing processes, started before the round's processes and ended
after the last round. ``--busy python`` (default) is a Python busy loop, ``while True: pass``:
a steady single-threaded load of one full CPU that does not depend on any thread setting, so
every setting meets the same competition; it stands for a second kernel, a browser tab or
another user's process. ``--busy torch`` is a genlearn training job (the digits VAE trained
over and over with 2 threads, the old default): a realistic neighbour, whose own demand
changes with the threads it gets.

A CPU quota is set from outside: ``taskset -c 0 python benchmarks/threads.py ...`` runs the
models and the busy processes on CPU 0 (a 1-core quota); the JSON records the quota genlearn
detected. Run every invocation alone on the machine (``/work/bin/cpu-quiet`` on the project's
shared machine) and keep each to a few minutes: one model and one or two loads per invocation.
Each run also records the CPU that other people's processes used meanwhile ("foreign"; a run
with more than ``--max-foreign`` CPUs is repeated once, and flagged with * if still so).

    python benchmarks/threads.py --model vae-digits --loads 0 [--settings t1 t2 auto] [--repeats 5]

Results are merged into ``results/threads.json`` (one entry per quota, model, load, busy
kind and setting; a rerun replaces its entries); ``--table`` prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "threads.json"

# model name -> (kind, dataset, training size of one timed run): 2-3 s each on 2 idle threads
MODELS = {
    "vae-digits": dict(kind="vae", data="digits", epochs=60),             # 60 x 22 = 1,320 steps
    "gan-ring": dict(kind="gan", data="ring", steps=200),
    "gan-digits": dict(kind="gan", data="digits", steps=100),             # DCGAN, 16x16 digits
    "vae-sprites": dict(kind="vae", data="sprites", epochs=1, n=60 * 128),  # conv VAE, 60 steps
}
# setting -> (the process it runs in, GENLEARN_NUM_THREADS for the run or None)
SETTINGS = {
    "t1": ("stock", "1"),
    "t2": ("stock", "2"),
    "t2-passive": ("passive", "2"),
    "t2-spin10k": ("spin10k", "2"),
    "t2-spin1k": ("spin1k", "2"),
    "auto": ("stock", None),
}
PROCESS_ENV = {"stock": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
               "spin10k": {"GOMP_SPINCOUNT": "10000"}, "spin1k": {"GOMP_SPINCOUNT": "1000"}}
# The environment a setting starts from: no inherited thread or OpenMP settings.
CLEARED = ("GENLEARN_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
           "GOMP_SPINCOUNT", "GENLEARN_DEVICE")
BUSY = {
    "python": "while True: pass",
    "torch": ("from genlearn import recipes\nfrom genlearn.train import train_vae\n"
              "import torch\ntorch.set_num_threads(2)\n"
              "x = recipes.load_data('vae', 'digits')\n"
              "while True:\n"
              "    train_vae(recipes.build('vae', 'digits'), x, epochs=20, batch_size=64, progress=False)\n"),
}


# ------------------------------------------------------------------------ worker process

def worker(name: str) -> None:
    """Load, warm up, print "ready"; then one timed run per line on stdin ("run 2": with
    ``GENLEARN_NUM_THREADS=2``, "run auto": without it)."""
    import torch

    from genlearn import data as datasets, recipes
    from genlearn.device import CPU, cpu_quota, thread_choice
    from genlearn.train import train_gan, train_vae

    spec = MODELS[name]
    kind, data_name = spec["kind"], spec["data"]
    settings = recipes.recipe(kind, data_name)["train"]
    if "n" in spec:  # a smaller training set: one epoch is the timed run
        data = datasets.load(data_name, "train", n=spec["n"])
    else:
        data = recipes.load_data(kind, data_name)

    def train(x, **size):
        model = recipes.build(kind, data_name)
        if kind == "vae":
            model.init_output_bias(data.x.mean(0))
            return train_vae(model, x, progress=False, device=CPU, **{**settings, **size})
        return train_gan(model, x, progress=False, device=CPU, **{**settings, **size})

    # warm-up: imports (the first Adam imports torch._dynamo), allocations, the thread pool
    train(data.x[:10 * settings["batch_size"]], **({"epochs": 1} if kind == "vae" else {"steps": 10}))
    print(json.dumps({"quota": cpu_quota(), "affinity": sorted(os.sched_getaffinity(0))}), flush=True)
    for line in sys.stdin:
        command, threads = line.split()
        if command != "run":
            break
        if threads == "auto":
            os.environ.pop("GENLEARN_NUM_THREADS", None)
        else:
            os.environ["GENLEARN_NUM_THREADS"] = threads
        start = time.perf_counter()
        history = train(data, **{k: spec[k] for k in ("epochs", "steps") if k in spec})
        print(json.dumps({"seconds": time.perf_counter() - start, "loop_seconds": history.seconds,
                          "steps": history.steps,
                          "threads": torch.get_num_threads(), "why": thread_choice().reason}), flush=True)


# ------------------------------------------------------------------------ driver

def _env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(procs: list[subprocess.Popen]) -> tuple[float, float]:
    """(CPU seconds used by the whole machine, by this script and ``procs``) so far."""
    from genlearn.device import _busy_jiffies

    machine = _busy_jiffies(Path("/proc/stat"), None)[0] / TICK
    ours = time.process_time()
    for p in procs:
        fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ours += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return machine, ours


class Worker:
    """A process (fresh imports, data and warm-up) that trains one model on each :meth:`run`."""

    def __init__(self, name: str, kind: str):
        self.kind = kind
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", name], env=_env(PROCESS_ENV[kind]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} worker exited with code {self.proc.wait()}")
        return json.loads(line)

    def run(self, threads: str | None, others: list[subprocess.Popen]) -> dict:
        """One timed training run; also how many CPUs other people's processes used meanwhile."""
        (machine0, ours0), wall0 = _cpu_seconds(others), time.monotonic()
        self.proc.stdin.write(f"run {threads or 'auto'}\n")
        self.proc.stdin.flush()
        result = self._read()
        (machine1, ours1), wall1 = _cpu_seconds(others), time.monotonic()
        result["foreign_cpus"] = max(0.0, ((machine1 - machine0) - (ours1 - ours0)) / (wall1 - wall0))
        return result

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def one_round(model: str, settings: list[str], shift: int, busy: list[subprocess.Popen], args) -> dict[str, dict]:
    """Fresh processes; every setting once, starting at ``settings[shift]``."""
    workers = {}
    try:
        for setting in settings:
            kind = SETTINGS[setting][0]
            if kind not in workers:
                workers[kind] = Worker(model, kind)
        everyone = busy + [w.proc for w in workers.values()]
        results = {}
        for setting in settings[shift:] + settings[:shift]:
            kind, threads = SETTINGS[setting]
            for attempt in range(1 + args.retries):
                r = workers[kind].run(threads, everyone)
                r.update(workers[kind].info)
                if r["foreign_cpus"] <= args.max_foreign:
                    break
                print(f"  {setting}: other processes used {r['foreign_cpus']:.2f} CPUs meanwhile; "
                      f"{'again in 10 s' if attempt < args.retries else 'kept, flagged'}", flush=True)
                if attempt < args.retries:
                    time.sleep(10)
            results[setting] = r
        return results
    finally:
        for w in workers.values():
            w.close()


def start_busy(kind: str, n: int) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", BUSY[kind]], env=_env({}),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
    time.sleep(1.0 if kind == "python" else 8.0)  # the torch job imports and loads data first
    return procs


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def entry_key(e: dict) -> tuple:
    return (e["quota"], e["model"], e["load"], e["busy"], e["setting"])


def merge(entries: list[dict]) -> list[dict]:
    old = json.loads(RESULTS.read_text())["entries"] if RESULTS.exists() else []
    new = {entry_key(e): e for e in old}
    new.update({entry_key(e): e for e in entries})
    order = {m: i for i, m in enumerate(MODELS)}
    rows = sorted(new.values(), key=lambda e: (-e["quota"], order.get(e["model"], 99), e["busy"],
                                               e["load"], list(SETTINGS).index(e["setting"])))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"about": __doc__.splitlines()[0], "entries": rows}, indent=1) + "\n")
    return rows


FIXED = ("t1", "t2")  # "the best fixed thread count": 1 or 2 threads, OpenMP's own settings
TARGET = {0: 1.10, 1: 1.20}  # auto / best fixed: idle, one busy process (the targets)


def table(rows: list[dict]) -> str:
    """One row per (quota, model, load): median seconds per setting, and how auto compares.

    "auto / best": auto's median over the fastest fixed thread count's median, and in brackets
    the median over rounds of the same ratio within each round (the settings run interleaved,
    so a round's runs saw the same machine speed; this machine's speed drifts by up to 2x).
    """
    settings = [s for s in SETTINGS if any(e["setting"] == s for e in rows)]
    groups: dict[tuple, dict] = {}
    for e in rows:
        groups.setdefault((e["quota"], e["model"], e["busy"], e["load"]), {})[e["setting"]] = e
    head = (["quota", "model", "load"] + [f"{s} s" for s in settings]
            + ["auto threads", "auto / best fixed (paired)", "t2 / auto", "target"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (quota, model, busy, load), by in groups.items():
        cells = [str(quota), model, f"{load} {busy}" if load else "idle"]
        cells += [f"{by[s]['median_s']:.2f}" + ("*" if by[s]["foreign_cpus"] > 0.1 else "") if s in by else "-"
                  for s in settings]
        fixed = [s for s in FIXED if s in by]
        if "auto" not in by or not fixed:
            lines.append("| " + " | ".join(cells + ["-"] * 4) + " |")
            continue
        a, best = by["auto"], by[min(fixed, key=lambda s: by[s]["median_s"])]
        ratio = a["median_s"] / best["median_s"]
        paired = statistics.median(x / y for x, y in zip(a["seconds"], best["seconds"]))
        speedup = by["t2"]["median_s"] / a["median_s"] if "t2" in by else None
        ok = ratio <= TARGET[load] if load in TARGET else None
        if load == 1 and model == "vae-digits" and quota == 2:
            ok = ok and speedup is not None and speedup >= 3
        cells += ["/".join(str(t) for t in sorted(set(a["threads"]))), f"{ratio:.2f} ({paired:.2f})",
                  "-" if speedup is None else f"{speedup:.1f}", {True: "ok", False: "MISSED", None: "-"}[ok]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def calibrate(samples: int = 60) -> dict:
    """What genlearn's load sample reads with 0, 1 and 2 busy processes, for several windows."""
    from genlearn.device import BUSY_MARGIN, busy_cpus

    out = {"margin": BUSY_MARGIN, "samples": samples, "rows": []}
    for load in (0, 1, 2):
        procs = start_busy("python", load)
        try:
            for window in (0.02, 0.05, 0.1):
                xs = sorted(busy_cpus(window) for _ in range(samples))
                row = {"load": load, "window_s": window, "min": xs[0], "median": statistics.median(xs),
                       "max": xs[-1], "above_margin": sum(x > BUSY_MARGIN for x in xs) / samples}
                out["rows"].append({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
                print(out["rows"][-1], flush=True)
        finally:
            stop_busy(procs)
    path = RESULTS.with_name("threads_load_sample.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(MODELS))
    ap.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["t1", "t2", "t2-passive", "auto"])
    ap.add_argument("--busy", choices=list(BUSY), default="python")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-foreign", type=float, default=0.1,
                    help="CPUs other people's processes may use during a measurement before it is retried")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="print the table of results/threads.json and exit")
    ap.add_argument("--calibrate", action="store_true",
                    help="what the load sample reads with 0-2 busy processes (results/threads_load_sample.json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    if args.table:
        print(table(json.loads(RESULTS.read_text())["entries"]))
        return
    if args.calibrate:
        calibrate()
        return
    if not args.model:
        ap.error("--model is required (one model per invocation keeps each run short)")
    import torch

    from genlearn.device import cpu_quota

    entries = []
    for load in args.loads:
        procs = start_busy(args.busy, load)
        try:
            rounds = [one_round(args.model, args.settings, i % len(args.settings), procs, args)
                      for i in range(args.repeats)]
        finally:
            stop_busy(procs)
        for setting in args.settings:
            rs = [r[setting] for r in rounds]
            seconds = [r["seconds"] for r in rs]
            entries.append({
                "quota": rs[0]["quota"], "affinity": rs[0]["affinity"], "model": args.model, "load": load,
                "busy": args.busy, "setting": setting, "process_env": PROCESS_ENV[SETTINGS[setting][0]],
                "GENLEARN_NUM_THREADS": SETTINGS[setting][1],
                "median_s": round(statistics.median(seconds), 3), "seconds": [round(s, 3) for s in seconds],
                "loop_seconds": [round(r["loop_seconds"], 3) for r in rs],
                "steps": rs[0]["steps"], "threads": [r["threads"] for r in rs], "why": [r["why"] for r in rs],
                "foreign_cpus": round(max(r["foreign_cpus"] for r in rs), 2),
                "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
            })
            e = entries[-1]
            print(f"quota {e['quota']} | {args.model} | load {load} {args.busy} | {setting}: {e['median_s']:.2f} s "
                  f"({', '.join(f'{s:.2f}' for s in seconds)}; threads {e['threads']}; "
                  f"others used up to {e['foreign_cpus']:.2f} CPUs)", flush=True)
    assert cpu_quota() == entries[0]["quota"]
    rows = merge(entries)
    print(table([e for e in rows if e["quota"] == cpu_quota() and e["model"] == args.model]))


if __name__ == "__main__":
    main()
