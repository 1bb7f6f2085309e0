"""The one-machine hub under a class: time from login to a running JupyterLab, and the memory
of each idle user's server.

Installs hub/ into a temporary prefix (or reuses GENLEARN_HUB_TEST_PREFIX), makes K student
accounts and logs them in one after another over HTTP (PAM), each spawning their JupyterLab
through the hub; a login counts as done when the user's JupyterLab page comes back through
the proxy. Then, with everyone idle for ``--settle`` seconds, it reads each user's processes'
memory: PSS (proportional set size: shared libraries divided among the processes that map
them, so the sum over users is what they really take together) and RSS. Then each user
starts one kernel (a notebook opened, nothing run) and it measures again. Everything is
removed at the end (tests/hub_support.py). Writes benchmarks/results/hub_servers.json.

    python benchmarks/hub_servers.py --users 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT / "tests"))
import hub_support as hs  # noqa: E402

MB = 2**20
MACHINE_GB = 24
RESERVE_GB = 2  # the OS, page cache, the instructor's grading


def memory_of(site: hs.HubSite, user: str) -> dict:
    uid = __import__("pwd").getpwnam(user).pw_uid
    pss = rss = 0
    for p in psutil.process_iter(["uids"]):
        try:
            if p.info["uids"] and p.info["uids"].real == uid:
                full = p.memory_full_info()
                pss, rss = pss + full.pss, rss + full.rss
        except psutil.Error:
            pass
    return {"pss_mb": round(pss / MB, 1), "rss_mb": round(rss / MB, 1)}


def hub_memory(site: hs.HubSite) -> float:
    pids = [site.proc.pid, site.proxy_pid()]
    return round(sum(psutil.Process(p).memory_full_info().pss for p in pids if p) / MB, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--settle", type=float, default=20.0, help="seconds of idleness before measuring")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates Unix users and runs servers as them")
    reuse = os.environ.get("GENLEARN_HUB_TEST_PREFIX")
    prefix = hs.open_dir(Path(reuse)) if reuse else hs.new_workdir("genlearn-hub-prefix-")
    tag = hs.new_tag()
    site = hs.HubSite(prefix, hs.new_workdir(), tag=tag)
    # for this site's groups only: its login-shell PATH script is the tag's, removed at the end
    install_s = hs.install(prefix, site.workdir / "install.log", tag)
    try:
        ids = [f"{site.tag}s{i:03d}" for i in range(args.users)]
        passwords = site.enroll(ids, ROOT)
        hub_up = site.start()
        users, login_s = [], []
        for sid in ids:
            user = hs.HubUser(site, sid, passwords[sid])
            start = time.perf_counter()
            user.login()
            user.spawn()
            user.lab_ready()
            login_s.append(time.perf_counter() - start)
            users.append(user)
        time.sleep(args.settle)
        idle = [memory_of(site, u.name) for u in users]
        for user in users:
            r = user.server("POST", "api/kernels", json={"name": "python3"})
            assert r.status_code == 201, r.text
        time.sleep(args.settle)
        with_kernel = [memory_of(site, u.name) for u in users]
        hub_mb = hub_memory(site)
    finally:
        site.close()
        hs.remove_profile(tag)
        if not reuse:
            import shutil

            shutil.rmtree(prefix, ignore_errors=True)

    def stats(values):
        return {"mean": round(statistics.mean(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}

    usable = (MACHINE_GB - RESERVE_GB) * 1024 - hub_mb
    result = {
        "users": args.users, "install_s": round(install_s), "hub_start_s": round(hub_up, 1),
        "login_to_lab_s": stats(login_s), "login_to_lab_each_s": [round(x, 1) for x in login_s],
        "idle_server_pss_mb": stats([m["pss_mb"] for m in idle]),
        "idle_server_rss_mb": stats([m["rss_mb"] for m in idle]),
        "server_with_idle_kernel_pss_mb": stats([m["pss_mb"] for m in with_kernel]),
        "server_with_idle_kernel_rss_mb": stats([m["rss_mb"] for m in with_kernel]),
        "hub_and_proxy_pss_mb": hub_mb,
        "machine_gb": MACHINE_GB, "reserve_gb": RESERVE_GB,
    }
    result["idle_students_per_machine"] = int(usable // result["idle_server_pss_mb"]["max"])
    result["students_with_idle_kernel_per_machine"] = int(usable // result["server_with_idle_kernel_pss_mb"]["max"])
    (RESULTS / "hub_servers.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
