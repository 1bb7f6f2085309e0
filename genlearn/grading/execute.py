"""nbgrader's Execute step with two sandboxed kernels: what ``nbgrader autograde`` runs per notebook.

The course's ``nbgrader_config.py`` puts :class:`SandboxedExecute` in place of nbgrader's
``Execute`` (see :func:`genlearn.grading.configure`). For each submitted notebook it

1. refuses, with one line, when no sandbox can be set up (unless the instructor allowed
   grading without one on a trusted machine: ``c.Sandbox.allow_unsandboxed = True``);
2. starts two kernels, each in its own sandbox (:mod:`genlearn.grading.sandbox`): the
   **student's kernel**, in a copy of the submission's folder, and the **grader's kernel**, in
   an empty folder of its own, which never runs a line of student code;
3. runs the notebook in order: the student's cells (answers, their own experiments) in the
   student's kernel; the instructor's locked cells in both (so each has the imports and
   helpers); the **test cells only in the grader's kernel**. There, the names a test uses
   that the student's notebook defines call across the grading bridge
   (:mod:`genlearn.grading.bridge`), which carries plain data only: nothing the student's code
   does can change how a test runs, what it compares, or what its inputs are, and the hidden
   tests' source never reaches the student's kernel;
4. scores each test cell as nbgrader does, from the grader's kernel's output;
5. reports (``grading_reports/``, and a warning on the command line) what the student's code
   did that looks like tampering, from a guard in the student's kernel
   (:mod:`genlearn.grading.guard`) and a reading of its source (:mod:`genlearn.grading.policy`).
   The report changes no score: grades come from the grader's kernel alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
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
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_locked, is_solution
from traitlets import Int, List, Unicode

from . import guard as guard_module
from .policy import TAMPER, bound_names, free_names, imported_names, scan
from .sandbox import Sandbox, SandboxKernelManager, copy_regular_files

DEFAULT_GUARDED_MODULES = list(guard_module.DEFAULT_GUARDED_MODULES)
BRIDGE = "_genlearn_bridge"  # the bridge's module, as the grader's kernel names it


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
    kernel_died: str | None = None          # the student's kernel
    grader_kernel_died: str | None = None   # the grader's kernel (a test that did not run scores 0)
    grader_errors: list[str] = field(default_factory=list)  # locked cells that failed in the grader's kernel
    refused_files: list[str] = field(default_factory=list)  # not copied into the student's sandbox
    kernels: dict[str, str] = field(default_factory=dict)  # how each kernel started: forked from the template, or not
    zeroed_tests: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0        # the whole notebook
    guard_seconds: float = 0.0  # of which: installing the guard and asking it
    timings: dict[str, float] = field(default_factory=dict)  # where the time went: start, cells per kernel, bridge

    @property
    def tampered(self) -> bool:
        return bool(self.tampering) or any(s["severity"] == TAMPER for s in self.static)


class _CappedOutput:
    """nbclient's output handler, with a cap on how much one cell may print."""

    def output(self, outs, msg, display_id, cell_index):
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


class SandboxedExecute(_CappedOutput, Execute):
    """nbgrader's ``Execute`` preprocessor: the student's kernel and the grader's, both sandboxed."""

    max_output_bytes = Int(1_000_000, help="Output a cell may produce before the rest is dropped.").tag(config=True)
    guard_timeout = Int(30, help="Seconds the guard may take to answer a check.").tag(config=True)
    serve_grace = Int(15, help="Seconds the student's kernel may take to finish answering a test cell's "
                               "calls after the cell ended, before it is interrupted (and then stopped).").tag(config=True)
    guarded_modules = List(Unicode(), DEFAULT_GUARDED_MODULES,
                           help="Modules whose functions student code is reported for patching.").tag(config=True)
    report_dir = Unicode("grading_reports", help="Folder (relative to the course) for per-submission reports.").tag(config=True)

    # ----------------------------------------------------------------- nbclient hooks

    def create_kernel_manager(self):
        if not self._sandboxed:
            return super().create_kernel_manager()
        self.km = SandboxKernelManager(kernel_name=self._kernel_name(), config=self.config, sandbox=self._sandbox,
                                       binds=[(self._bridge_dir, False)])
        return self.km

    def _kernel_name(self) -> str:
        return self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or "python3"

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
        self._dead: str | None = None          # why the student's kernel is gone
        self._guard = None
        self._locked_names: list[str] = []
        self._grader_names: set[str] = set()  # what the grader's kernel's cells have bound so far
        start = time.perf_counter()
        self._scan_student_cells(nb)

        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._work = tempfile.mkdtemp(prefix="glgr-")  # short: the bridge's socket path must fit 107 bytes
        self._bridge_dir = os.path.join(self._work, "b")
        self._grader = _GraderKernel(self)
        try:
            run_sync(self._async_run)(info)
        finally:
            self._report.seconds = round(time.perf_counter() - start, 3)
            self._report.guard_seconds = round(self._report.guard_seconds, 3)
            if self._guard is not None:
                self._guard.close()
            shutil.rmtree(self._work, ignore_errors=True)
        self._apply_verdicts()
        self._write_report()
        self.set_widgets_metadata()
        return self.nb, self.resources

    async def _async_run(self, info: dict) -> None:
        os.mkdir(self._bridge_dir, 0o700)
        self._grader.prepare(self._instructor_files(info))
        try:
            with self._timed("start kernels"):
                await asyncio.gather(_start(self), _start(self._grader))
            if self._sandboxed and self._grader.km.uid is not None:
                os.chown(self._bridge_dir, self._grader.km.uid, self._grader.km.uid)
                os.chmod(self._bridge_dir, 0o711)  # the student's kernel may connect to the socket, not list
            if self._sandboxed:
                self._report.refused_files = list(self.km.refused)
                self._report.kernels = {"student": self.km.started_as, "grader": self._grader.km.started_as}
            reply = await self.async_wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = reply["content"]["language_info"]
            # both kernels import what they need at once: the guard's snapshot, the bridge (torch)
            with self._timed("guard and bridge"):
                await asyncio.gather(self._install_guard(),
                                     self._grader.start_bridge(os.path.join(self._bridge_dir, "s")))
            for index, cell in enumerate(self.nb.cells):
                await self._run_cell(cell, index)
            if self._dead is None:
                await self._ask("end", len(self.nb.cells))
        finally:
            with self._timed("stop kernels"):
                await asyncio.gather(_stop(self), _stop(self._grader), return_exceptions=True)

    def _instructor_files(self, info: dict) -> list[tuple[str, str]]:
        """(path, name) of the other files of the assignment's source folder: the instructor's."""
        try:
            coursedir = CourseDirectory(config=self.config, root=str(self._course_dir))
            source = coursedir.format_path(coursedir.source_directory, ".", info.get("assignment", ""))
        except Exception:
            return []
        return [(os.path.join(source, n), n) for n in sorted(os.listdir(source))
                if not n.endswith(".ipynb")] if os.path.isdir(source) else []

    def _scan_student_cells(self, nb) -> None:
        imports = imported_names([c.source for c in nb.cells if c.cell_type == "code"])
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and _kind(cell) == "student":
                for f in scan(cell.source, imports):
                    self._report.static.append({"cell": index, "grade_id": _gid(cell), **asdict(f)})

    async def _run_cell(self, cell, index: int) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        kind = _kind(cell)
        if kind == "student":
            await self._run_student(cell, index)
        elif kind == "locked":
            twin = copy.deepcopy(cell)
            if set(free_names(cell.source)) - self._grader_names:  # it may call the notebook's functions
                await self._run_student(cell, index)
                await self._run_in_grader(twin, index, locked=True)
            else:  # imports and helpers: both kernels at once, and no call to the student's kernel
                await asyncio.gather(self._run_student(cell, index),
                                     self._run_in_grader(twin, index, locked=True, serve=False))
            for out in twin.get("outputs", []):
                if out.get("output_type") == "error":
                    line = f"cell {index}: {out.get('ename')}: {out.get('evalue')}"
                    self._report.grader_errors.append(line)
                    cell.outputs.append(_error("GraderKernelError", f"in the grader's kernel, {line}"))
            names = bound_names(cell.source)
            self._locked_names += names
            self._grader_names.update(names)
            if names and self._dead is None:
                await self._ask("register", index, extra=",".join(names))
        elif kind == "test":
            await self._run_in_grader(cell, index, locked=False)
            self._grader_names.update(bound_names(cell.source))

    async def _run_student(self, cell, index: int) -> None:
        if self._dead is not None:
            cell.outputs = []
            return
        t0 = time.perf_counter()
        try:
            await self.async_execute_cell(cell, index, store_history=True)
            self._time("student cells", t0)
        except DeadKernelError:
            self._kernel_died(index)
            return
        except Exception as err:  # nbclient gave up on the cell (no output after an interrupt, ...)
            message = (str(err).strip().splitlines() or [""])[0]
            cell.outputs = [*cell.get("outputs", []), _error(type(err).__name__, message)]
        if _timed_out(self, cell) and not await self._ask("after time limit", index, timeout=10, quiet=True):
            self._dead = f"it did not answer after cell {index} ran past the time limit, so it was stopped"
            await self._stop_student()

    async def _run_in_grader(self, cell, index: int, locked: bool, serve: bool = True) -> None:
        """One cell in the grader's kernel, with the student's kernel answering its calls (``serve``)."""
        if self._grader.dead is not None:
            if not locked:
                cell.outputs = [_error("GraderKernelStopped", f"This test did not run: {self._grader.dead}.")]
                self._report.zeroed_tests[_gid(cell)] = "not run"
            return
        gid = _gid(cell) or f"cell {index}"
        serving = None
        if self._dead is None and serve:
            if not locked:  # what the student's cells did so far, for the report
                await self._ask("before " + gid, index)
            nonce = secrets.token_hex(8)
            serving = (nonce, self.kc.execute(
                f"__import__('genlearn.grading.serve', fromlist=['serve']).serve({self._grader.socket!r}, {nonce!r})",
                silent=True, store_history=False, allow_stdin=False))
        t0 = time.perf_counter()
        try:
            if await self._grader.silent(
                    f"{BRIDGE}.begin_cell({serving[0] if serving else ''!r}, {free_names(cell.source)!r}, "
                    f"{self._locked_names!r}, {self._unavailable(serve)!r})"):
                self._time("bridge setup", t0)
                t0 = time.perf_counter()
                await self._grader.async_execute_cell(cell, index, store_history=True)
                self._time("locked cells in the grader" if locked else "grader cells", t0)
                t0 = time.perf_counter()
            else:  # a test cell without an error output would score full points: it must carry one
                cell.outputs = [_error("GraderError", "This cell did not run: the grader's kernel could not "
                                                      f"prepare it ({self._report.grader_errors[-1]}).")]
        except DeadKernelError:
            self._grader.died(index)
        except Exception as err:  # nbclient gave up on the cell: it must not pass for lack of an error
            cell.outputs = [*cell.get("outputs", []), _error(type(err).__name__, str(err)[:500])]
        finally:
            if self._grader.dead is None:
                await self._grader.silent(f"{BRIDGE}.end_cell()")
            if serving is not None:
                await self._finish_serving(serving[1], index, _timed_out(self._grader, cell))
            self._time("bridge teardown", t0)
        if self._grader.dead is not None and not locked:
            cell.outputs = [*cell.get("outputs", []), _error("GraderKernelStopped", f"{self._grader.dead}.")]
            self._report.zeroed_tests[_gid(cell)] = "not run"

    def _time(self, what: str | None, since: float) -> None:
        """Add the time since ``since`` to the report: to ``timings[what]``, or to ``guard_seconds``
        for ``what=None`` (installing the guard and asking it)."""
        if what is None:
            self._report.guard_seconds += time.perf_counter() - since
        else:
            self._report.timings[what] = round(self._report.timings.get(what, 0.0) + time.perf_counter() - since, 3)

    @contextlib.contextmanager
    def _timed(self, what: str | None):
        """The block's time, added by :meth:`_time` however the block ends."""
        since = time.perf_counter()
        try:
            yield
        finally:
            self._time(what, since)

    def _unavailable(self, serve: bool = True) -> str | None:
        if self._dead is not None:
            return f"your notebook's kernel stopped: {self._dead}"
        return None if serve else "this locked cell was not expected to call the notebook's functions"

    async def _finish_serving(self, msg_id: str, index: int, timed_out: bool) -> None:
        """Wait for the student's kernel to finish answering; interrupt it, then stop it, if it does not."""
        reply = await self._wait_reply(msg_id, 2 if timed_out else self.serve_grace)
        if reply is None and await self.kc.is_alive():
            await self.km.interrupt_kernel()
            reply = await self._wait_reply(msg_id, 10)
        if reply is None:
            if await self.kc.is_alive():
                self._dead = f"it did not stop answering cell {index}'s calls when interrupted, so it was stopped"
                await self._stop_student()
            else:
                self._kernel_died(index)

    # ----------------------------------------------------------------- the guard (reports only)

    async def _install_guard(self) -> None:
        with self._timed(None):
            base = self.km.ipc_dir if self._sandboxed else self._work
            self._guard = GuardChannel(base, owner=self.km.give if self._sandboxed else None)
            code = ("import genlearn.grading.guard as _genlearn_guard\n"
                    f"_genlearn_guard.install({self._guard.secret_path!r}, {self._guard.report_path!r}, "
                    f"{list(self.guarded_modules)!r}, {_trusted_dirs()!r})\n"
                    "del _genlearn_guard")
            reply = await self._silent(code, timeout=max(60, self.guard_timeout))
            answer = self._guard.read()
            if reply is None or reply["content"]["status"] != "ok" or not answer.valid \
                    or not any(a[1] == "installed" for a in answer.lines):
                raise RuntimeError(f"genlearn: the grading guard did not start in the kernel: "
                                   f"{reply and reply['content'].get('evalue')} {answer.problems}")

    async def _ask(self, phase: str, index: int, extra: str = "", timeout: int | None = None, quiet: bool = False) -> bool:
        """One check of the guard; records findings; returns False when no valid answer came."""
        with self._timed(None):
            nonce = secrets.token_hex(8)
            code = f"import sys as _gl\n_gl.audit('genlearn.guard', {nonce!r}, {phase.split()[0]!r}, {extra!r})\ndel _gl"
            reply = await self._silent(code, timeout=timeout or self.guard_timeout)
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

    async def _silent(self, code: str, timeout: int):
        try:
            msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            return await self._wait_reply(msg_id, timeout)
        except (TimeoutError, DeadKernelError, RuntimeError):
            return None

    async def _wait_reply(self, msg_id: str, timeout: float):
        return await _wait_reply(self.kc, msg_id, timeout)

    # ----------------------------------------------------------------- the student's kernel

    def _kernel_died(self, index: int) -> None:
        tail = self.km.stderr_tail() if self._sandboxed else ""
        self._dead = f"the kernel stopped while cell {index} ran ({_death_reason(tail)})"

    async def _stop_student(self) -> None:
        try:
            await self.km.shutdown_kernel(now=True)
        except Exception as err:  # already gone
            self.log.debug("stopping the kernel: %s", err)

    # ----------------------------------------------------------------- scores and report

    def _apply_verdicts(self) -> None:
        """Gather what the guard saw: reported, never scored."""
        for check in self._checks:
            self._report.tampering.extend(
                {"phase": check.phase, "cell": check.cell, "finding": f} for f in check.findings)
            self._report.notes.extend(check.notes)
        self._report.kernel_died = self._dead
        self._report.grader_kernel_died = self._grader.dead

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
            self.log.warning("TAMPERING %s / %s: %s (%d finding(s); reported only: the tests ran in the grader's "
                             "own kernel); report: %s", r.student, r.assignment, first,
                             len(r.tampering) + len(r.static), path)
        elif r.static:
            self.log.warning("REVIEW %s / %s: %s; report: %s", r.student, r.assignment, r.static[0]["what"], path)
        if r.kernel_died:
            self.log.warning("KERNEL %s / %s: %s", r.student, r.assignment, r.kernel_died)
        if r.grader_kernel_died or r.grader_errors:
            self.log.error("GRADER %s / %s: %s; report: %s", r.student, r.assignment,
                           r.grader_kernel_died or r.grader_errors[0], path)
        if r.refused_files:
            self.log.warning("REFUSED FILES %s / %s: %s", r.student, r.assignment, r.refused_files[0])


class _GraderKernel(_CappedOutput, Execute):
    """The grader's kernel: runs the instructor's locked cells and the tests, never student code."""

    def __init__(self, owner: SandboxedExecute):
        super().__init__(config=owner.config, log=owner.log)
        from nbclient import NotebookClient

        NotebookClient.__init__(self, owner.nb, None)
        self.owner = owner
        self.max_output_bytes = owner.max_output_bytes
        self._output_used, self._output_capped = {}, set()
        self.dead: str | None = None
        self.socket = ""

    def prepare(self, files: list[tuple[str, str]]) -> None:
        """Its working folder: the instructor's own files of the assignment, nothing of the student's."""
        folder = os.path.join(self.owner._work, "g")
        os.mkdir(folder, 0o755)
        for path, name in files:
            if os.path.isfile(path):
                shutil.copy(path, os.path.join(folder, name))
            elif os.path.isdir(path):
                copy_regular_files(path, os.path.join(folder, name), 2**40, 2**40)
        self.resources = {"metadata": {"path": folder}}

    def create_kernel_manager(self):
        owner = self.owner
        if not owner._sandboxed:
            return super().create_kernel_manager()
        self.km = SandboxKernelManager(kernel_name=owner._kernel_name(), config=owner.config, sandbox=owner._sandbox,
                                       binds=[(owner._bridge_dir, True)])
        return self.km

    async def start_bridge(self, path: str) -> None:
        self.socket = path
        if not await self.silent(f"import genlearn.grading.bridge as {BRIDGE}\n{BRIDGE}.start({path!r})", timeout=120):
            errors = self.owner._report.grader_errors
            raise RuntimeError("genlearn: the grader's kernel could not start the grading bridge: "
                               f"{self.dead or (errors[-1] if errors else 'no answer')}")

    async def silent(self, code: str, timeout: float = 120) -> bool:
        try:
            msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            reply = await _wait_reply(self.kc, msg_id, timeout)
        except (TimeoutError, DeadKernelError, RuntimeError):
            reply = None
        if reply is None or reply["content"]["status"] != "ok":
            why = "no answer" if reply is None else f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}"
            self.owner._report.grader_errors.append(f"the grader's kernel failed to run {code.split('(')[0]!r}: {why}")
            if reply is None and self.dead is None:
                self.dead = "the grader's kernel stopped answering"
            return False
        return True

    def died(self, index: int) -> None:
        tail = self.km.stderr_tail() if self.owner._sandboxed else ""
        self.dead = f"the grader's kernel stopped while cell {index} ran ({_death_reason(tail)})"


async def _start(client) -> None:
    client.km = client.create_kernel_manager()
    await client.async_start_new_kernel()
    await client.async_start_new_kernel_client()


async def _stop(client) -> None:
    if client.km is not None:
        client.shutdown_kernel = "immediate"  # its answers are in: nothing to wait for (a graceful stop took 3 s)
        await client._async_cleanup_kernel()


async def _wait_reply(kc, msg_id: str, timeout: float):
    """The shell reply to ``msg_id`` (others are dropped), or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not await kc.is_alive():
            return None
        try:
            msg = await kc.get_shell_msg(timeout=min(1.0, remaining))
        except Exception:  # queue.Empty: keep waiting
            await asyncio.sleep(0)
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def _timed_out(client, cell) -> bool:
    names = {client.error_on_timeout.get("ename"), "CellTimeoutError"}
    return any(o.get("output_type") == "error" and o.get("ename") in names for o in cell.get("outputs", []))


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
