"""nbgrader's Execute step, sandboxed and guarded: what ``nbgrader autograde`` runs per notebook.

The course's ``nbgrader_config.py`` puts :class:`SandboxedExecute` in place of nbgrader's
``Execute`` (see :func:`genlearn.grading.configure`). For each submitted notebook it

1. refuses, with one line, when no sandbox can be set up (unless the instructor allowed
   grading without one on a trusted machine: ``c.Sandbox.allow_unsandboxed = True``);
2. reads the student's cells for tampering (:mod:`genlearn.grading.policy`);
3. starts the kernel inside the sandbox (:mod:`genlearn.grading.sandbox`) and installs the
   guard in it before any student code (:mod:`genlearn.grading.guard`);
4. runs the cells as nbgrader would, asking the guard before and after every test cell whether
   anything changed how tests run; registers the names locked cells define; caps each cell's
   output; stops a kernel that no longer answers after a cell ran past its time limit;
5. scores no points for the tests that tampering touched (every test after it) or that a dead
   kernel never ran, by giving them an error output that says why, which is how nbgrader
   marks a failed test; and writes a report per submission (``grading_reports/``) and a
   warning on the command line.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_locked, is_solution
from traitlets import Int, List, Unicode

from . import guard as guard_module
from .policy import TAMPER, bound_names, imported_names, scan
from .sandbox import Sandbox, SandboxKernelManager

DEFAULT_GUARDED_MODULES = [
    "math", "copy", "time", "numpy", "numpy.linalg", "numpy.testing", "torch", "torch.nn",
    "torch.nn.functional", "torch.autograd", "torch.linalg", "torch.testing", "torch.distributions",
    "torch.optim",
    "genlearn", "genlearn.data", "genlearn.metrics", "genlearn.models", "genlearn.ethics",
    "genlearn.train", "genlearn.grading.checks", "traitlets.traitlets",
]


@dataclass
class Check:
    phase: str
    cell: int
    findings: list[str]
    notes: list[str]


@dataclass
class Report:
    """What happened while one notebook was graded; written to grading_reports/."""

    student: str
    assignment: str
    notebook: str
    sandboxed: bool
    limits: dict
    static: list[dict] = field(default_factory=list)
    tampering: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kernel_died: str | None = None
    zeroed_tests: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0        # the whole notebook
    guard_seconds: float = 0.0  # of which: installing the guard and asking it

    @property
    def tampered(self) -> bool:
        return bool(self.tampering) or any(s["severity"] == TAMPER for s in self.static)


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` preprocessor, with the sandbox and the tamper guard."""

    max_output_bytes = Int(1_000_000, help="Output a cell may produce before the rest is dropped.").tag(config=True)
    guard_timeout = Int(30, help="Seconds the guard may take to answer a check.").tag(config=True)
    guarded_modules = List(Unicode(), DEFAULT_GUARDED_MODULES,
                           help="Modules whose functions tests rely on (snapshotted, then compared).").tag(config=True)
    report_dir = Unicode("grading_reports", help="Folder (relative to the course) for per-submission reports.").tag(config=True)

    # ----------------------------------------------------------------- nbclient hooks

    def create_kernel_manager(self):
        if not self._sandboxed:
            return super().create_kernel_manager()
        name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or "python3"
        self.km = SandboxKernelManager(kernel_name=name, config=self.config, sandbox=self._sandbox)
        return self.km

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, with a cap on how much one cell may print."""
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        used = self._output_used.get(cell_index, 0) + size
        self._output_used[cell_index] = used
        if used > self.max_output_bytes:
            if cell_index not in self._output_capped:
                self._output_capped.add(cell_index)
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output cut: this cell printed more than "
                                              f"{self.max_output_bytes:,} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    # ----------------------------------------------------------------- the notebook

    def preprocess(self, nb, resources=None, km=None):
        self._sandbox = Sandbox(parent=self)
        self._sandboxed = self._sandbox.check()  # raises SandboxUnavailable: nothing is graded
        info = (resources or {}).get("nbgrader", {})
        self._report = Report(info.get("student", "?"), info.get("assignment", "?"), info.get("notebook", "?"),
                              self._sandboxed, self._sandbox.limits() if self._sandboxed else {})
        self._course_dir = _course_dir(info)
        self._output_used, self._output_capped = {}, set()
        self._checks: list[Check] = []
        self._dead: str | None = None
        self._ran: set[int] = set()  # cells the kernel finished (with or without an error)
        self._guard = None
        start = time.perf_counter()
        self._scan_student_cells(nb)

        # as nbconvert's ExecutePreprocessor.preprocess, with the guard and a cell loop of our own
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        try:
            with self.setup_kernel():
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                self._install_guard()
                for index, cell in enumerate(self.nb.cells):
                    self._run_cell(cell, resources, index)
        finally:
            self._report.seconds = round(time.perf_counter() - start, 3)
            self._report.guard_seconds = round(self._report.guard_seconds, 3)
            if self._guard is not None:
                self._guard.close()
                if not self._sandboxed:  # the sandbox's folder goes with its kernel
                    shutil.rmtree(os.path.dirname(self._guard.report_path), ignore_errors=True)
        self._apply_verdicts()
        self._write_report()
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _scan_student_cells(self, nb) -> None:
        imports = imported_names([c.source for c in nb.cells if c.cell_type == "code"])
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and _kind(cell) == "student":
                for f in scan(cell.source, imports):
                    self._report.static.append({"cell": index, "grade_id": _gid(cell), **asdict(f)})

    def _run_cell(self, cell, resources, index: int) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        kind = _kind(cell)
        if self._dead is not None:
            cell.outputs = []
            return
        if kind == "test":
            self._ask("before " + _gid(cell), index)
        try:
            self.preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_died(index)
            return
        except Exception as err:  # nbclient gave up on the cell (no output after an interrupt, ...)
            message = (str(err).strip().splitlines() or [""])[0]
            cell.outputs = [*cell.get("outputs", []), _error(type(err).__name__, message)]
        self._ran.add(index)
        if self._timed_out(cell) and not self._ask("after time limit", index, timeout=10, quiet=True):
            self._dead = f"it did not answer after cell {index} ran past the time limit, so it was stopped"
            self._stop_kernel()
            return
        if kind == "test":
            self._ask("after " + _gid(cell), index)
        elif kind == "locked":
            names = bound_names(cell.source)
            if names:
                self._ask("register", index, extra=",".join(names))

    # ----------------------------------------------------------------- the guard

    def _install_guard(self) -> None:
        start = time.perf_counter()
        try:
            self._start_guard()
        finally:
            self._report.guard_seconds += time.perf_counter() - start

    def _start_guard(self) -> None:
        base = self.km.ipc_dir if self._sandboxed else tempfile.mkdtemp(prefix="glguard-")
        self._guard = GuardChannel(base, owner=self.km.give if self._sandboxed else None)
        trusted = _trusted_dirs()
        code = ("import genlearn.grading.guard as _genlearn_guard\n"
                f"_genlearn_guard.install({self._guard.secret_path!r}, {self._guard.report_path!r}, "
                f"{list(self.guarded_modules)!r}, {trusted!r})\n"
                "del _genlearn_guard")
        reply = self._silent(code, timeout=max(60, self.guard_timeout))
        answer = self._guard.read()
        if reply is None or reply["content"]["status"] != "ok" or not answer.valid \
                or not any(a[1] == "installed" for a in answer.lines):
            raise RuntimeError(f"genlearn: the grading guard did not start in the kernel: "
                               f"{reply and reply['content'].get('evalue')} {answer.problems}")

    def _ask(self, phase: str, index: int, extra: str = "", timeout: int | None = None, quiet: bool = False) -> bool:
        """One check; records findings; returns False when no valid answer came."""
        start = time.perf_counter()
        try:
            return self._check(phase, index, extra, timeout, quiet)
        finally:
            self._report.guard_seconds += time.perf_counter() - start

    def _check(self, phase: str, index: int, extra: str, timeout: int | None, quiet: bool) -> bool:
        nonce = secrets.token_hex(8)
        code = f"import sys as _gl\n_gl.audit('genlearn.guard', {nonce!r}, {phase.split()[0]!r}, {extra!r})\ndel _gl"
        reply = self._silent(code, timeout=timeout or self.guard_timeout)
        answer = self._guard.read()
        mine = [a for a in answer.lines if a[0] == nonce]
        findings = list(answer.problems) + [x for a in answer.lines for x in a[2]]
        notes = [x for a in answer.lines for x in a[3]]
        if reply is None or not mine:
            if quiet:
                return False
            findings.append("the guard did not answer (the kernel's state was changed, or it stopped)")
        if findings or notes:
            self._checks.append(Check(phase, index, findings, notes))
        return bool(mine)

    def _silent(self, code: str, timeout: int):
        try:
            return run_sync(self._async_silent)(code, timeout)
        except (TimeoutError, DeadKernelError, RuntimeError):
            return None

    async def _async_silent(self, code: str, timeout: int):
        import asyncio

        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self.kc.is_alive():
                return None
            try:
                msg = await self.kc.get_shell_msg(timeout=min(1.0, remaining))
            except Exception:  # queue.Empty: keep waiting
                await asyncio.sleep(0)
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    # ----------------------------------------------------------------- the kernel

    def _timed_out(self, cell) -> bool:
        names = {self.error_on_timeout.get("ename"), "CellTimeoutError"}
        return any(o.get("output_type") == "error" and o.get("ename") in names for o in cell.get("outputs", []))

    def _kernel_died(self, index: int) -> None:
        fatal = []
        if self._guard is not None:
            answer = self._guard.read()
            fatal = [x for a in answer.lines if a[1] == "fatal" for x in a[2]]
            if fatal:
                self._checks.append(Check("fatal", index, fatal, []))
        tail = self.km.stderr_tail() if self._sandboxed else ""
        why = "; ".join(fatal) or _death_reason(tail)
        self._dead = f"the kernel stopped while cell {index} ran ({why})"

    def _stop_kernel(self) -> None:
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as err:  # already gone
            self.log.debug("stopping the kernel: %s", err)

    # ----------------------------------------------------------------- scores and report

    def _apply_verdicts(self) -> None:
        """Zero the tests that tampering touched or that never ran."""
        first_static = min((s["cell"] for s in self._report.static if s["severity"] == TAMPER), default=None)
        tainted_from, why = None, ""
        for check in self._checks:
            if check.findings and (tainted_from is None or check.cell < tainted_from):
                tainted_from, why = check.cell, check.findings[0]
            self._report.tampering.extend(
                {"phase": check.phase, "cell": check.cell, "finding": f} for f in check.findings)
            self._report.notes.extend(check.notes)
        if first_static is not None and (tainted_from is None or first_static < tainted_from):
            s = next(s for s in self._report.static if s["cell"] == first_static and s["severity"] == TAMPER)
            tainted_from, why = first_static, f"cell {first_static} {s['what']} (line {s['line']})"
        for index, cell in enumerate(self.nb.cells):
            if _kind(cell) != "test":
                continue
            gid = _gid(cell)
            if tainted_from is not None and index >= tainted_from:
                reason = (f"This test scores no points: tampering was detected before or while it ran "
                          f"({why}). Grading rules: answer cells must not change how tests run.")
                cell.outputs.append(_error("TamperingDetected", reason))
                self._report.zeroed_tests[gid] = "tampering"
            elif self._dead is not None and index not in self._ran:
                cell.outputs = [_error("KernelStopped", f"This test did not run: {self._dead}.")]
                self._report.zeroed_tests[gid] = "not run"
        self._report.kernel_died = self._dead

    def _write_report(self) -> None:
        r = self._report
        folder = self._course_dir / self.report_dir / r.assignment / r.student
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{r.notebook}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({**asdict(r), "tampered": r.tampered}, indent=2) + "\n")
        os.replace(tmp, path)
        if r.tampered:
            first = (r.tampering[0]["finding"] if r.tampering else
                     next(f"cell {s['cell']}: {s['what']}" for s in r.static if s["severity"] == TAMPER))
            self.log.warning("TAMPERING %s / %s: %s (%d finding(s); %d test(s) scored 0); report: %s",
                             r.student, r.assignment, first, len(r.tampering) + len(r.static),
                             len(r.zeroed_tests), path)
        elif r.static:
            self.log.warning("REVIEW %s / %s: %s; report: %s", r.student, r.assignment,
                             r.static[0]["what"], path)
        if r.kernel_died:
            self.log.warning("KERNEL %s / %s: %s", r.student, r.assignment, r.kernel_died)


class GuardChannel:
    """The grader's end of the guard's signed answers (see :mod:`genlearn.grading.guard`)."""

    def __init__(self, folder: str, owner=None):
        self.key = secrets.token_bytes(32)
        self.secret_path = os.path.join(folder, f"guard-key-{secrets.token_hex(4)}")
        self.report_path = os.path.join(folder, "guard-answers")
        fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        os.write(fd, self.key)
        os.close(fd)
        open(self.report_path, "wb").close()
        if owner is not None:
            owner(self.secret_path)
            owner(self.report_path)
        self._file = open(self.report_path, "rb")  # this inode, whatever happens to the name
        self._seq = 0
        self._buffer = b""

    def read(self) -> "Answers":
        import hmac

        data = self._file.read()
        if os.fstat(self._file.fileno()).st_size < self._file.tell():
            return Answers([], ["the guard's answer file was truncated (forged)"])
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        lines, problems = [], []
        for raw in complete:
            body, _, mac = raw.decode(errors="replace").rpartition("\t")
            good = hmac.compare_digest(hmac.new(self.key, body.encode(), "sha256").hexdigest(), mac)
            parts = body.split(guard_module.SEPARATOR)
            if not good or len(parts) != 5 or not parts[0].isdigit() or int(parts[0]) != self._seq + 1:
                problems.append("a line in the guard's answers is not the guard's (forged or out of order)")
                continue
            self._seq += 1
            split = lambda s: [x for x in s.split(guard_module.ITEM) if x]  # noqa: E731
            lines.append((parts[1], parts[2], split(parts[3]), split(parts[4])))
        return Answers(lines, problems)

    def close(self) -> None:
        self._file.close()


@dataclass
class Answers:
    lines: list[tuple[str, str, list[str], list[str]]]  # (nonce, phase, findings, notes)
    problems: list[str]

    @property
    def valid(self) -> bool:
        return not self.problems


def _kind(cell) -> str:
    """'test' (autograded test cell), 'locked' (instructor code) or 'student' (anything editable)."""
    if cell.cell_type != "code":
        return "markdown"
    if is_grade(cell) and not is_solution(cell):
        return "test"
    if is_locked(cell):
        return "locked"
    return "student"


def _gid(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


def _course_dir(info: dict) -> Path:
    url = info.get("db_url", "")
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).resolve().parent
    return Path.cwd()


def _trusted_dirs() -> list[str]:
    """Where library code lives: frames from anywhere else are the notebook's."""
    from .sandbox import _package_dir

    paths = {_package_dir()}
    for key, path in sysconfig.get_paths().items():
        if key in ("stdlib", "platstdlib", "purelib", "platlib") and path:
            paths |= {path, os.path.realpath(path)}  # frames name files by the path they were imported from
    return sorted(paths)


def _death_reason(stderr_tail: str) -> str:
    for marker, why in (("MemoryError", "out of memory: the sandbox's memory limit"),
                        ("CPU time limit", "the sandbox's CPU time limit"),
                        ("File size limit", "the sandbox's file size limit")):
        if marker in stderr_tail:
            return why
    return "it exited or was killed"


