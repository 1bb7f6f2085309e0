"""How many CPU threads should genlearn train with, on an idle and on a busy machine?

Sweeps thread settings x load x model. Each (model, setting) runs in a fresh Python
process (OpenMP reads its environment when torch is imported), which trains the course's
recipe (``genlearn.recipes``) for a fixed number of steps ``--repeats`` times after a short
warm-up and reports the median wall time of the training call. The training call includes
everything a user waits for, also genlearn's own thread decision (a 0.1 s load sample).

Settings: ``t1``/``t2`` fix 1 or 2 threads (``GENLEARN_NUM_THREADS``; ``t2`` is genlearn's
old default on 2 cores, the CPU quota), ``t2-passive`` adds ``OMP_WAIT_POLICY=PASSIVE``
(waiting OpenMP threads sleep instead of spinning), ``t2-spin10k`` ``GOMP_SPINCOUNT=10000``
(spin ~30x shorter than libgomp's default), ``auto`` is genlearn's automatic choice.

Load: ``--loads 0 1 2`` competing processes, started by this script before the model's
process and ended by it afterwards. ``--busy python`` (default) is a Python busy loop,
``while True: pass``: a steady, single-threaded load of one full CPU that does not depend on
any thread setting, so every setting meets the same competition; it stands for a second
kernel, a browser tab or another user's process. ``--busy torch`` is a genlearn training job
(the digits VAE, trained over and over with 2 threads, the old default): a realistic
neighbour, but its own demand changes with the threads it gets.

A CPU quota is set from outside: ``taskset -c 0 python benchmarks/threads.py ...`` runs the
models and the busy processes on CPU 0 (a 1-core quota); the JSON records the quota genlearn
detected. Run every invocation alone on the machine (``/work/bin/cpu-quiet`` on the project's
shared machine) and keep each to a few minutes: one model per invocation.

    python benchmarks/threads.py --model vae-digits --loads 0 1 2 [--settings t1 t2 auto]

Results are merged into ``results/threads.json`` (one entry per quota, model, load, busy
kind and setting; a rerun replaces its entries); ``--table`` prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "threads.json"

# model name -> (kind, dataset, training size for one timed run), each ~2-3 s on 2 idle threads
MODELS = {
    "vae-digits": dict(kind="vae", data="digits", epochs=40),          # 40 x 22 = 880 steps
    "gan-ring": dict(kind="gan", data="ring", steps=200),
    "gan-digits": dict(kind="gan", data="digits", steps=150),          # DCGAN, 16x16 digits
    "vae-sprites": dict(kind="vae", data="sprites", epochs=1, n=12_800),  # conv VAE, 100 steps
}
SETTINGS = {
    "t1": {"GENLEARN_NUM_THREADS": "1"},
    "t2": {"GENLEARN_NUM_THREADS": "2"},
    "t2-passive": {"GENLEARN_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "t2-spin10k": {"GENLEARN_NUM_THREADS": "2", "GOMP_SPINCOUNT": "10000"},
    "auto": {},
}
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

def worker(name: str, repeats: int) -> dict:
    """Train ``name`` ``repeats`` times (after a warm-up); seconds and threads of each run."""
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
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        history = train(data, **{k: spec[k] for k in ("epochs", "steps") if k in spec})
        runs.append({"seconds": time.perf_counter() - start, "steps": history.steps,
                     "threads": torch.get_num_threads(), "why": thread_choice().reason})
    return {"runs": runs, "quota": cpu_quota(), "affinity": sorted(os.sched_getaffinity(0))}


# ------------------------------------------------------------------------ driver

def _env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(busy: list[subprocess.Popen]) -> tuple[float, float]:
    """(CPU seconds used by the whole machine, by this script, its finished children and ``busy``)."""
    from genlearn.device import _busy_jiffies

    machine = _busy_jiffies(Path("/proc/stat"), None)[0] / TICK
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = time.process_time() + children.ru_utime + children.ru_stime
    for p in busy:
        fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ours += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return machine, ours


def measure(name: str, setting: str, repeats: int, busy: list[subprocess.Popen]) -> dict:
    """Run the worker; also how many CPUs other people's processes used meanwhile ("foreign")."""
    (machine0, ours0), wall0 = _cpu_seconds(busy), time.monotonic()
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--repeats", str(repeats)],
                         env=_env(SETTINGS[setting]), capture_output=True, text=True, timeout=900)
    (machine1, ours1), wall1 = _cpu_seconds(busy), time.monotonic()
    if out.returncode:
        raise RuntimeError(f"{name} / {setting} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["foreign_cpus"] = max(0.0, ((machine1 - machine0) - (ours1 - ours0)) / (wall1 - wall0))
    return result


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


def table(rows: list[dict]) -> str:
    """Median seconds per (quota, model, load) row, one column per setting, ratios to the best fixed."""
    settings = [s for s in SETTINGS if any(e["setting"] == s for e in rows)]
    groups: dict[tuple, dict] = {}
    for e in rows:
        groups.setdefault((e["quota"], e["model"], e["busy"], e["load"]), {})[e["setting"]] = e
    head = ["quota", "model", "load"] + [f"{s} s" for s in settings] + ["auto threads", "auto / best fixed", "auto vs t2"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (quota, model, busy, load), by in groups.items():
        cells = [str(quota), model, f"{load} {busy}" if load else "idle"]
        cells += [f"{by[s]['median_s']:.2f}" + ("*" if by[s]["foreign_cpus"] > 0.1 else "") if s in by else "-"
                  for s in settings]
        fixed = [by[s]["median_s"] for s in settings if s in by and s != "auto"]
        if "auto" in by and fixed:
            a = by["auto"]
            cells += ["/".join(str(t) for t in sorted(set(a["threads"]))), f"{a['median_s'] / min(fixed):.2f}",
                      f"{by['t2']['median_s'] / a['median_s']:.1f}x faster" if "t2" in by else "-"]
        else:
            cells += ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats)))
        return
    if args.table:
        print(table(json.loads(RESULTS.read_text())["entries"]))
        return
    if not args.model:
        ap.error("--model is required (one model per invocation keeps each run short)")
    import torch

    from genlearn.device import cpu_quota

    entries = []
    for load in args.loads:
        procs = start_busy(args.busy, load)
        try:
            for setting in args.settings:
                for attempt in range(1 + args.retries):
                    r = measure(args.model, setting, args.repeats, procs)
                    if r["foreign_cpus"] <= args.max_foreign:
                        break
                    print(f"  {setting}: other processes used {r['foreign_cpus']:.2f} CPUs meanwhile; "
                          f"{'again in 20 s' if attempt < args.retries else 'kept, flagged'}", flush=True)
                    if attempt < args.retries:
                        time.sleep(20)
                seconds = [run["seconds"] for run in r["runs"]]
                entries.append({
                    "quota": r["quota"], "affinity": r["affinity"], "model": args.model, "load": load,
                    "busy": args.busy, "setting": setting, "env": SETTINGS[setting],
                    "median_s": round(statistics.median(seconds), 3), "seconds": [round(s, 3) for s in seconds],
                    "steps": r["runs"][0]["steps"], "threads": [run["threads"] for run in r["runs"]],
                    "why": r["runs"][-1]["why"], "foreign_cpus": round(r["foreign_cpus"], 2),
                    "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
                })
                e = entries[-1]
                print(f"quota {e['quota']} | {args.model} | load {load} {args.busy} | {setting}: "
                      f"{e['median_s']:.2f} s ({', '.join(f'{s:.2f}' for s in e['seconds'])}; "
                      f"threads {e['threads']}; others used {e['foreign_cpus']:.2f} CPUs)", flush=True)
        finally:
            stop_busy(procs)
    assert cpu_quota() == entries[0]["quota"]
    rows = merge(entries)
    print(table([e for e in rows if e["quota"] == cpu_quota() and e["model"] == args.model]))


if __name__ == "__main__":
    main()
