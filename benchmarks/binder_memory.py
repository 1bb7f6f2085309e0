"""Memory of JupyterLab plus one kernel running each lesson: does the course fit Binder's guaranteed 1 GB?

Starts JupyterLab the way Binder does (one server; :class:`browser_support.LabServer`, no
token, fresh config), then for each lesson opens a session through the server's REST API and
runs every code cell over the kernel's websocket, as JupyterLab's page would. A sampler reads
the resident memory (RSS) of the server and of the kernel (with any children) every 0.1 s.
Each lesson gets a fresh kernel, shut down afterwards, like a student who closes a lesson
before opening the next. Writes ``benchmarks/results/binder_memory.json`` and prints a
Markdown table; the goal is a largest server + kernel peak under 1 GB, what mybinder.org
guarantees a session (2 GB is its ceiling, not a promise: above 1 GB a session may be killed
when the node is busy).

    python benchmarks/binder_memory.py [lessons/03_*.ipynb ...]

RSS counts the libraries the server and the kernel share twice, so the total is a slight
overestimate. The browser runs on the student's machine and is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import psutil
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(ROOT / "tests"))
from browser_support import LabServer, copy_course  # noqa: E402

MB = 1024 * 1024
BINDER_GUARANTEED_MB = 1024  # mybinder.org guarantees this much to every session
BINDER_CEILING_MB = 2048  # and kills a session above this


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and its children (0 once it is gone)."""
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


class Sampler(threading.Thread):
    """Peak RSS of the server alone, of a kernel, and of both at the same instant."""

    def __init__(self, server: psutil.Process, kernel: psutil.Process, interval: float = 0.1):
        super().__init__(daemon=True)
        self.server, self.kernel, self.interval = server, kernel, interval
        self.peak_server = self.peak_kernel = self.peak_total = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                s = self.server.memory_info().rss
            except psutil.NoSuchProcess:
                s = 0
            k = tree_rss(self.kernel)
            self.peak_server, self.peak_kernel = max(self.peak_server, s), max(self.peak_kernel, k)
            self.peak_total = max(self.peak_total, s + k)
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


async def run_cells(url: str, kernel_id: str, cells: list[str], timeout: float) -> list[str]:
    """Execute ``cells`` in order over the kernel's websocket; return error descriptions."""
    session = uuid.uuid4().hex
    ws = await websocket_connect(f"{url.replace('http', 'ws', 1)}/api/kernels/{kernel_id}/channels?session_id={session}",
                                 max_message_size=512 * MB)
    errors = []
    try:
        for i, source in enumerate(cells):
            msg_id = uuid.uuid4().hex
            await ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "binder-benchmark",
                           "session": session, "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": source, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            replied = idle = False
            deadline = time.monotonic() + timeout
            while not (replied and idle):
                raw = await asyncio.wait_for(ws.read_message(), max(1.0, deadline - time.monotonic()))
                if raw is None:
                    raise RuntimeError("the kernel's websocket closed")
                if isinstance(raw, bytes):  # binary frames carry widget buffers
                    continue
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "error":
                    errors.append(f"cell {i}: {msg['content']['ename']}: {msg['content']['evalue']}")
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            if errors:
                break  # like Run All, stop at the first failing cell
    finally:
        ws.close()
    return errors


def measure_lesson(server: LabServer, path: str, timeout: float) -> dict:
    server_proc = psutil.Process(server.proc.pid)
    before = {p.pid for p in server_proc.children(recursive=True)}
    session = server.api("POST", "/api/sessions", {"path": path, "type": "notebook", "name": Path(path).name,
                                                   "kernel": {"name": "python3"}})
    kernel_id = session["kernel"]["id"]
    try:
        deadline = time.monotonic() + 60
        while True:
            new = [p for p in server_proc.children() if p.pid not in before]
            if new:
                kernel = new[0]
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no kernel process appeared")
            time.sleep(0.1)
        nb = nbformat.read(server.root_dir / path, as_version=4)
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
        sampler = Sampler(server_proc, kernel)
        sampler.start()
        start = time.perf_counter()
        try:
            errors = asyncio.run(run_cells(server.url, kernel_id, cells, timeout))
        except Exception as err:  # report and go on with the next lesson
            errors = [f"{type(err).__name__}: {err}"]
        seconds = time.perf_counter() - start
        time.sleep(0.3)
        sampler.stop()
    finally:
        server.api("DELETE", f"/api/sessions/{session['id']}")
    return {"lesson": Path(path).stem, "seconds": round(seconds, 1),
            "server_peak_mb": round(sampler.peak_server / MB), "kernel_peak_mb": round(sampler.peak_kernel / MB),
            "total_peak_mb": round(sampler.peak_total / MB),
            "headroom_to_1gb_mb": BINDER_GUARANTEED_MB - round(sampler.peak_total / MB), "errors": errors}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lessons", nargs="*", type=Path, help="lesson notebooks (default: every lessons/NN_*.ipynb)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a cell may run")
    args = ap.parse_args()
    lessons = [p.resolve() for p in args.lessons] or sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("binder_memory.json" if not args.lessons else "binder_memory_partial.json")
    rows, idle_mb = [], None

    def write():  # after every lesson, so a long run that is stopped still leaves its numbers
        largest = max((r["total_peak_mb"] for r in rows), default=None)
        out.write_text(json.dumps({"jupyterlab_idle_mb": idle_mb, "binder_guaranteed_mb": BINDER_GUARANTEED_MB,
                                   "binder_ceiling_mb": BINDER_CEILING_MB,
                                   "largest_total_peak_mb": largest, "lessons": rows}, indent=2) + "\n")
        return largest

    with tempfile.TemporaryDirectory() as tmp:
        course = copy_course(Path(tmp) / "course")
        with LabServer(course, Path(tmp) / "home") as server:
            time.sleep(2)
            idle_mb = round(psutil.Process(server.proc.pid).memory_info().rss / MB)
            print(json.dumps({"jupyterlab_idle_mb": idle_mb}), flush=True)
            for lesson in lessons:
                if lesson.is_relative_to(ROOT):
                    rel = lesson.relative_to(ROOT).as_posix()
                else:  # a notebook from elsewhere: serve a copy
                    (course / "other").mkdir(exist_ok=True)
                    rel = f"other/{lesson.name}"
                    (course / rel).write_bytes(lesson.read_bytes())
                row = measure_lesson(server, rel, args.timeout)
                rows.append(row)
                print(json.dumps(row), flush=True)
                write()
    largest = write()
    print(f"\nJupyterLab server alone, idle: {idle_mb} MB\n")
    print("| lesson | run time (s) | server peak (MB) | kernel peak (MB) | server + kernel peak (MB) "
          f"| headroom to {BINDER_GUARANTEED_MB} MB | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['lesson']} | {r['seconds']} | {r['server_peak_mb']} | {r['kernel_peak_mb']} | "
              f"{r['total_peak_mb']} | {r['headroom_to_1gb_mb']} | {len(r['errors'])} |")
    if largest is not None:
        verdict = "fits" if largest < BINDER_GUARANTEED_MB else "does NOT fit"
        print(f"\nlargest server + kernel peak: {largest} MB ({verdict} the {BINDER_GUARANTEED_MB} MB Binder "
              f"guarantees; ceiling {BINDER_CEILING_MB} MB)")
    print(f"wrote {out.relative_to(ROOT)}")
    if any(r["errors"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
