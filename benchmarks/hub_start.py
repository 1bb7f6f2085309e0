"""Class start on the one-machine hub: N students log in at the same moment (as root).

hub/ installed as docs/hub.md says (a temporary prefix, or GENLEARN_HUB_TEST_PREFIX), the
largest N of student accounts made once with `genlearn-course accounts` and the course with
`genlearn-course setup`. Then, for each class size N and each hub setting, in turns (A B B A
for each N, so that neither setting always runs on a warmer machine), a fresh hub is started
and N students do at once what a browser does at 9:00:

    login     POST /hub/login with their password
    spawn     POST /hub/api/users/NAME/server, then follow the spawn's progress stream (the
              event stream the hub's spawn page reads) until it says ready
    lab       GET their JupyterLab page through the proxy

For each student it records the seconds from the start of the wave to each step; for the wave,
when the first and the last JupyterLab page came back, the hub's own "took X seconds to start"
lines, and its "Event loop was unresponsive for at least X s" warnings (JupyterHub measures its
event loop; it warns past 1 s). The hub is stopped (with every server) between waves. Writes
benchmarks/results/hub_start.json.

``--variant NAME KEY=VALUE,...`` compares hub settings side by side (each a set of GENLEARN_*
environment variables for hub/start, which hub/jupyterhub_config.py reads): each class size
then runs A B B A over the variants, so that neither always runs on a warmer machine. Without
it, the hub as shipped, twice. ``--baseline DIR`` adds the hub of another checkout (say, a
worktree of the commit before a change), installed into a prefix of its own, as one more
variant: ``before``; the same accounts and course serve both.

    sudo python benchmarks/hub_start.py --students 10 30 60
    sudo python benchmarks/hub_start.py --students 30 --variant shipped "" --variant big GENLEARN_MEM_LIMIT=4G
    sudo python benchmarks/hub_start.py --students 30 --variant shipped "" --baseline /tmp/main-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT / "tests"))
import hub_support as hs  # noqa: E402

TOOK = re.compile(r"User (\S+) took ([\d.]+) seconds to start")
UNRESPONSIVE = re.compile(r"Event loop was unresponsive for at least ([\d.]+)s")


def follow_spawn(user: hs.HubUser, timeout: float = 600) -> None:
    """Start the user's server and read its progress stream until the hub says it is ready."""
    r = user.hub_api("POST", f"/users/{user.name}/server")
    if r.status_code not in (201, 202):
        raise RuntimeError(f"spawn of {user.name}: HTTP {r.status_code} {r.text[:300]}")
    if r.status_code == 201:
        return  # started at once
    url = user.site.url(f"/hub/api/users/{user.name}/server/progress")
    with requests.get(url, headers={"Authorization": f"token {user.token}"}, stream=True, timeout=timeout) as s:
        for line in s.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("ready"):
                    return
                if event.get("failed"):
                    raise RuntimeError(f"{user.name}'s server failed to start: {event.get('message')}")
    raise RuntimeError(f"{user.name}'s progress stream ended before the server was ready")


def student(site: hs.HubSite, name: str, password: str, go: threading.Event, t0: list, out: dict) -> None:
    user = hs.HubUser(site, name, password)
    go.wait()
    try:
        user.login()
        out["login_s"] = time.perf_counter() - t0[0]
        follow_spawn(user)
        out["ready_s"] = time.perf_counter() - t0[0]
        user.lab_ready(timeout=300)
        out["lab_s"] = time.perf_counter() - t0[0]
    except Exception as e:  # a failed student is a result, not the end of the wave
        out["error"] = f"{type(e).__name__}: {e}"[:300]


def cpu_seconds(procs) -> float:
    """User + system CPU seconds of the processes, their reaped children included (gone ones: 0)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except Exception:  # exited meanwhile
            pass
    return total


def where_cpu_went(site: hs.HubSite, before: dict) -> dict:
    """CPU seconds since ``before`` (None: since their start) of the hub, its server template (if
    running: it starts with the first spawn), the proxy, the users' servers (and whatever they
    started), and this benchmark's own client threads."""
    hub = psutil.Process(site.proc.pid)
    proxy = site.proxy_pid()
    template = []
    for child in hub.children():
        try:
            if "server_template.py" in " ".join(child.cmdline()):
                template.append(child)
        except psutil.Error:
            pass
    now = {"hub": cpu_seconds([hub]), "template": cpu_seconds(template),
           "proxy": cpu_seconds([psutil.Process(proxy)]) if proxy and psutil.pid_exists(proxy) else 0.0,
           "servers": cpu_seconds(site.user_processes()),
           "client": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}
    return {k: round(v - (before or {}).get(k, 0.0), 1) for k, v in now.items()}


def wave(site: hs.HubSite, ids: list[str], passwords: dict, variant: str, settings: dict,
         prefix: Path | None = None) -> dict:
    """One class start: a fresh hub (from ``prefix``, default the site's) with ``settings`` in its
    environment, every student at once; the hub stopped afterwards."""
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)  # HubSite.start passes the environment on to hub/start
    own_prefix, site.prefix = site.prefix, prefix or site.prefix
    try:
        site.start()
    finally:
        site.prefix = own_prefix
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    log_from = len(site.log.read_text(errors="replace"))
    go, t0, outs = threading.Event(), [0.0], [{} for _ in ids]
    threads = [threading.Thread(target=student, args=(site, sid, passwords[sid], go, t0, o), daemon=True)
               for sid, o in zip(ids, outs)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    cpu_before = where_cpu_went(site, None)
    cpu_before["servers"] = cpu_before["template"] = 0.0  # none yet
    t0[0] = time.perf_counter()
    go.set()
    for t in threads:
        t.join(900)
    cpu = where_cpu_went(site, cpu_before)
    log = site.log.read_text(errors="replace")[log_from:]
    site.stop()
    for p in site.user_processes():  # servers the hub's stop left behind, if any
        try:
            p.kill()
        except Exception:
            pass
    failed = [o["error"] for o in outs if "error" in o]
    lab = sorted(o["lab_s"] for o in outs if "lab_s" in o)
    took = [float(s) for _, s in TOOK.findall(log)]
    stalls = [float(s) for s in UNRESPONSIVE.findall(log)]

    def med(xs):
        return round(statistics.median(xs), 1) if xs else None

    return {"students": len(ids), "variant": variant, "failed": len(failed), "errors": failed[:3],
            "login_median_s": med([o["login_s"] for o in outs if "login_s" in o]),
            "ready_median_s": med([o["ready_s"] for o in outs if "ready_s" in o]),
            "lab_median_s": med(lab), "first_lab_s": round(lab[0], 1) if lab else None,
            "all_up_s": round(lab[-1], 1) if len(lab) == len(ids) else None,
            "hub_took_median_s": med(took), "hub_took_max_s": max(took) if took else None,
            "loop_stalls": len(stalls), "loop_stall_max_s": max(stalls) if stalls else 0.0,
            "cpu_s": cpu, "cpu_s_per_student": round(sum(cpu.values()) / len(ids), 2)}


def commit_of(checkout: Path) -> str:
    """The checkout's commit, with "+changes" when its working tree differs from it."""
    import subprocess

    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def parse_settings(spec: str) -> dict:
    """``"GENLEARN_A=1,GENLEARN_B=x"`` -> {"GENLEARN_A": "1", "GENLEARN_B": "x"} ("" -> {})."""
    settings = {}
    for item in filter(None, spec.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"GENLEARN_[A-Z_]+", key):
            raise SystemExit(f"--variant settings must be GENLEARN_NAME=value, comma-separated; got {item!r}")
        settings[key] = value
    return settings


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, nargs="+", default=[10, 30, 60])
    ap.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "KEY=VALUE,..."),
                    help="hub settings to compare (GENLEARN_* variables); default: the hub as shipped")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="another checkout whose hub runs as the variant 'before', in its own prefix")
    ap.add_argument("--out", type=Path, default=RESULTS / "hub_start.json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates Unix users and runs servers as them")
    variants = {name: parse_settings(spec) for name, spec in (args.variant or [("shipped", "")])}
    hs.check_can_run()
    reuse = os.environ.get("GENLEARN_HUB_TEST_PREFIX")
    prefix = hs.open_dir(Path(reuse)) if reuse else hs.new_workdir("genlearn-hub-prefix-")
    tag = hs.new_tag()
    site = hs.HubSite(prefix, hs.new_workdir(), tag=tag)
    results = {"cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit_of(ROOT),
               "waves": []}
    prefixes = {name: None for name in variants}
    reuse_base = os.environ.get("GENLEARN_HUB_BASELINE_PREFIX")  # like GENLEARN_HUB_TEST_PREFIX
    try:
        results["install_s"] = round(hs.install(prefix, site.workdir / "install.log", tag), 1)
        if args.baseline:
            base = hs.open_dir(Path(reuse_base)) if reuse_base else hs.new_workdir("genlearn-hub-baseline-")
            hs.install(base, site.workdir / "install-baseline.log", tag, repo=args.baseline)
            results["baseline"] = {"checkout": str(args.baseline), "commit": commit_of(args.baseline)}
            variants["before"], prefixes["before"] = {}, base
        ids = [f"{tag}s{i:03d}" for i in range(max(args.students))]
        passwords = site.enroll(ids, ROOT)
        for n in args.students:
            order = list(variants) + list(reversed(list(variants)))  # A B B A (one variant: twice)
            for name in order:
                result = wave(site, ids[:n], passwords, name, variants[name], prefixes[name])
                print(json.dumps(result), flush=True)
                results["waves"].append(result)
                args.out.write_text(json.dumps(results, indent=1) + "\n")
    finally:
        site.close()
        hs.remove_profile(tag)
        if prefixes.get("before") and not reuse_base:
            import shutil

            shutil.rmtree(prefixes["before"], ignore_errors=True)
        if not reuse:
            import shutil

            shutil.rmtree(prefix, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
