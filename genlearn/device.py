"""The one place that decides where tensors live.

Order of precedence:

1. an explicit argument (``get_device("cpu")``, ``--device cuda:1``),
2. the ``GENLEARN_DEVICE`` environment variable,
3. automatic: CUDA if available, else Apple MPS, else the CPU.

Asking for a device that is not there (``GENLEARN_DEVICE=cuda`` on a laptop) warns once,
says why, and falls back to the CPU; it never crashes a lesson.

On the CPU we also choose PyTorch's thread count, at the start of every training run, from
the *real* CPU quota and the load measured then, and again every second while the run trains,
as other work comes and goes (see "threads" below). Containers such as Binder or a JupyterHub
pod report the host's cores through ``os.cpu_count()``, and a thread that shares its core with
another busy process slows all of torch's threads down. ``GENLEARN_NUM_THREADS`` overrides the
choice.

No other module in genlearn names a device type: they call :func:`get_device` or ask a
tensor for its ``.device``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ._checks import check_at_least, check_positive_int
from ._cpus import _allowed_cpus, _cgroup_quota, cpu_quota  # noqa: F401 (re-exported)

ENV_DEVICE = "GENLEARN_DEVICE"
ENV_THREADS = "GENLEARN_NUM_THREADS"
PROC_STAT = Path("/proc/stat")
CGROUP_ROOT = Path("/sys/fs/cgroup")

CPU = torch.device("cpu")
"""Where checkpoints are staged and numpy conversions happen."""

_KNOWN_TYPES = ("cpu", "cuda", "mps")
_warned: set[str] = set()


@dataclass(frozen=True)
class DeviceChoice:
    """The device genlearn will use, and a sentence saying why."""

    device: torch.device
    reason: str

    def __str__(self) -> str:
        return f"{self.device} ({self.reason})"


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _availability(kind: str) -> bool:
    if kind == "cpu":
        return True
    if kind == "cuda":
        return cuda_available()
    return mps_available()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def parse_device(requested: str | torch.device) -> torch.device:
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"unknown device {requested!r}: expected one of 'auto', 'cpu', 'cuda', "
            f"'cuda:N' or 'mps'"
        ) from err
    if device.type not in _KNOWN_TYPES:
        raise ValueError(
            f"unsupported device type {device.type!r}: expected 'cpu', 'cuda' or 'mps'"
        )
    return device


def _check(device: torch.device, source: str) -> DeviceChoice:
    if not _availability(device.type):
        _warn_once(
            f"genlearn: {source} asked for device '{device}', but {device.type.upper()} "
            f"is not available on this machine (torch {torch.__version__}); "
            f"falling back to the CPU."
        )
        return DeviceChoice(CPU, f"{source} asked for '{device}', which is not available")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            _warn_once(
                f"genlearn: {source} asked for '{device}', but only {count} CUDA device(s) "
                f"exist; falling back to the CPU."
            )
            return DeviceChoice(CPU, f"{source} asked for '{device}', which does not exist")
    return DeviceChoice(device, f"requested by {source}")


def choose_device(device: str | torch.device | None = None) -> DeviceChoice:
    """Decide the device and say why. See the module docstring for the order."""
    if isinstance(device, str) and device.strip().lower() in ("", "auto"):
        device = None
    if device is not None:
        choice = _check(parse_device(device), "the caller")
    else:
        env = os.environ.get(ENV_DEVICE, "").strip().lower()
        if env and env != "auto":
            try:
                choice = _check(parse_device(env), f"{ENV_DEVICE}={env}")
            except ValueError as err:
                _warn_once(f"genlearn: ignoring {ENV_DEVICE}={env!r}: {err}; falling back to the CPU.")
                choice = DeviceChoice(CPU, f"{ENV_DEVICE}={env!r} is not a device")
        elif cuda_available():
            choice = DeviceChoice(torch.device("cuda"), "CUDA GPU found (automatic choice)")
        elif mps_available():
            choice = DeviceChoice(torch.device("mps"), "Apple MPS found (automatic choice)")
        else:
            choice = DeviceChoice(CPU, "no GPU found (automatic choice)")
    if choice.device.type == CPU.type:
        configure_threads()
    return choice


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: ``device`` if given, else ``$GENLEARN_DEVICE``, else the best found."""
    return choose_device(device).device


def is_accelerator(device: torch.device) -> bool:
    """True for GPUs (where e.g. pinned memory and non-blocking copies pay off)."""
    return device.type != CPU.type


def has_fused_adam(device: torch.device) -> bool:
    """Whether ``torch.optim.Adam(..., fused=True)`` runs on ``device`` (CPU and CUDA here)."""
    return device.type in ("cpu", "cuda")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so timings measure the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# ----------------------------------------------------------------------------- threads
#
# How many threads PyTorch uses on the CPU, decided again at the start of every training run
# (the loops call get_device, which calls configure_threads), and followed while it trains
# (every loop calls follow_load at each step; it looks at the load once a second). Measured on
# 2 cores with the course's four models (benchmarks/threads.py; table in benchmarks/README.md):
# on an idle machine 2 threads were 1.2-1.7x faster than 1, but beside one busy process 2
# threads were 1.9-5.2x slower than 1. PyTorch's OpenMP threads wait for each other at the end
# of every operation, and a thread that shares its core with another process loses whole time
# slices while its partner waits. So: one thread per CPU that no one else is using.

LOAD_SAMPLE_S = 0.05
"""How long to watch the CPUs before deciding (a blocking sample of ``/proc/stat``)."""
BUSY_MARGIN = 0.5
"""CPUs of other work tolerated before a thread is given up. Over 60 samples of 0.05 s on
the 2-core machine an idle machine read 0.0-0.54 CPUs (median 0.0; 1 sample above 0.5), one
busy process 0.88-1.27 (median 0.99), two 1.99 (``benchmarks/threads.py --calibrate``,
``benchmarks/results/threads_load_sample.json``)."""
DECISION_TTL_S = 1.0
"""A decision is reused for this long, so get_device in a loop does not sample each time."""
FOLLOW_S = 1.0
"""How often a training run looks at the load again (:func:`follow_load`): one read of
``/proc/stat`` (a look costs about 0.3 ms on 2 cores), compared with the read of the look before, so the
load is averaged over the last second and nothing waits. Beside a busy process 2 threads
trained up to 5x slower than 1, so a second at the wrong count costs a few seconds at most."""
RAISE_MARGIN = 0.35
"""Hysteresis, in load: threads come back only while other work stays under this many CPUs
(a thread goes at :data:`BUSY_MARGIN`). A steady neighbour cannot make the count flap: the
more threads we run, the less CPU it gets, so it reads lower at 2 threads than at 1."""
RAISE_AFTER_S = 3.0
"""Hysteresis, in time: threads come back after this long with other work under
:data:`RAISE_MARGIN` (a thread goes after one look). The costs are lopsided: one thread too
few on an idle machine cost 1.2-1.7x, one too many beside a busy process 1.9-5.2x."""
STALE_S = 10.0
"""A previous look older than this is from before a pause (between runs, between clicks of a
widget): the next look only starts a new window instead of averaging over the pause."""


@dataclass(frozen=True)
class ThreadChoice:
    """How many intra-op threads torch uses on the CPU, and a sentence saying why."""

    threads: int
    reason: str

    def __str__(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.reason})"


@dataclass
class _ThreadState:
    """configure_threads' memory: one object changed in place, never a rebound module global
    (CONTRIBUTING.md states the rule and why), because loading a model in a graded notebook
    decides the threads."""

    choice: ThreadChoice | None = None    # the last decision, for describe()
    time: float = -math.inf               # time.monotonic() of configure_threads' last decision
    pinned: bool = False                  # configure_threads(n) fixed the count for good
    # follow_load's memory
    next_look: float = -math.inf          # time.monotonic() before which it does nothing
    reading: _LoadReading | None = None   # the CPUs at its last look
    calm_since: float | None = None       # since when the load would allow more threads


_threads = _ThreadState()


def _busy_jiffies(proc_stat: Path, cpus: set[int] | None) -> tuple[int, int]:
    """(busy, total) clock ticks summed over ``cpus`` (all CPUs if None) from ``/proc/stat``."""
    busy = total = 0
    for line in proc_stat.read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        ticks = [int(f) for f in fields[:8]]
        total += sum(ticks)
        busy += sum(ticks) - ticks[3] - ticks[4]
    return busy, total


def _cgroup_usage_s(root: Path) -> float | None:
    """CPU seconds used so far by everything in this cgroup (v2 ``cpu.stat``, v1 ``cpuacct``)."""
    try:
        for line in (root / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value) / 1e6
    except (OSError, ValueError):
        pass
    for folder in ("cpuacct", "cpu,cpuacct"):
        try:
            return int((root / folder / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            pass
    return None


@dataclass(frozen=True)
class _LoadReading:
    """One look at the CPUs; the difference of two is the load between them (:func:`_other_work`)."""

    wall: float                   # time.monotonic()
    own: float                    # time.process_time(): CPU seconds of this process, all its threads
    busy: int                     # busy clock ticks on `cpus` (/proc/stat)
    total: int                    # all clock ticks on `cpus`
    cpus: frozenset[int] | None   # the CPUs we may run on (None: all)
    n: int                        # how many
    quota: float | None           # the cgroup's CPU quota, where it is below n
    group: float | None           # CPU seconds used so far by the cgroup (with a quota only)


def _read_load(proc_stat: Path | str | None = None, cgroup_root: Path | str | None = None,
               cpus: set[int] | None = None) -> _LoadReading:
    """The CPUs now. Raises OSError, ValueError or IndexError where they cannot be read."""
    proc_stat, cgroup_root = Path(proc_stat or PROC_STAT), Path(cgroup_root or CGROUP_ROOT)
    cpus = _allowed_cpus() if cpus is None else cpus
    n = len(cpus) if cpus else (os.cpu_count() or 1)
    quota = _cgroup_quota(cgroup_root)
    quota = quota if quota is not None and quota < n else None
    busy, total = _busy_jiffies(proc_stat, cpus)
    group = _cgroup_usage_s(cgroup_root) if quota else None
    return _LoadReading(time.monotonic(), time.process_time(), busy, total,
                        frozenset(cpus) if cpus else None, n, quota, group)


def _other_work(r0: _LoadReading, r1: _LoadReading) -> float | None:
    """CPUs of the quota that *other* work kept busy between two readings (see :func:`busy_cpus`)."""
    if r1.total <= r0.total:
        return None
    n, quota = r1.n, r1.quota
    wall = max(r1.wall - r0.wall, 1e-9)
    own = (r1.own - r0.own) / wall
    free = n - max(0.0, n * (r1.busy - r0.busy) / (r1.total - r0.total) - own)  # free CPUs on the host
    if quota is None:
        return n - free
    if r0.group is not None and r1.group is not None:
        free = min(free, quota - max(0.0, (r1.group - r0.group) / wall - own))
    return max(0.0, min(n, math.ceil(quota)) - free)


def busy_cpus(seconds: float = LOAD_SAMPLE_S, *, proc_stat: Path | str | None = None,
              cgroup_root: Path | str | None = None, cpus: set[int] | None = None,
              sleep=time.sleep) -> float | None:
    """CPUs of this process's quota that *other* work keeps busy, over a ``seconds`` sample.

    Two readings of ``/proc/stat`` ``seconds`` apart: busy ticks / all ticks on the CPUs we
    may run on, times their number, less this process's own CPU time meanwhile. Under a
    cgroup quota (a container: Binder, a JupyterHub pod) what counts is the cgroup's other
    usage (the container's other processes share its quota), or the host's, if the host has
    fewer CPUs free than the quota; other tenants of a large host are not our load. ``None``
    where ``/proc/stat`` does not exist (macOS, Windows).
    """
    try:
        r0 = _read_load(proc_stat, cgroup_root, cpus)
        sleep(seconds)
        r1 = _read_load(proc_stat, cgroup_root, cpus)
    except (OSError, ValueError, IndexError):
        return None
    return _other_work(r0, r1)


def choose_threads(quota: int, busy: float | None, margin: float = BUSY_MARGIN) -> ThreadChoice:
    """The policy: one thread per CPU of the quota that other work leaves free.

    ``busy`` CPUs of other work (see :func:`busy_cpus`; ``None`` if unknown) each take a
    thread away once they pass ``margin`` (:data:`BUSY_MARGIN`; :func:`follow_load` asks with
    the lower :data:`RAISE_MARGIN` before it adds threads back); with a quota of 3 or more, one
    CPU is also left for JupyterLab, the browser and the system. Never fewer than 1 thread.
    """
    quota = check_at_least("quota", quota, 1, "CPU")
    spare = 1 if quota >= 3 else 0
    taken = 0 if busy is None or busy <= margin else math.ceil(busy - margin)
    threads = max(1, quota - spare - taken)
    parts = [f"CPU quota {quota}"]
    if busy is None:
        parts.append("load unknown (no /proc/stat)")
    elif taken:
        parts.append(f"{busy:.1f} CPUs busy with other work: one thread fewer per busy CPU, as a "
                     f"thread that shares a core stalls the others")
    else:
        parts.append(f"other work {busy:.2f} CPUs (under {margin}): all of it")
    if spare:
        parts.append("one CPU left for JupyterLab, the browser and the system")
    return ThreadChoice(threads, "; ".join(parts))


def _thread_override() -> int | None:
    """``$GENLEARN_NUM_THREADS`` as a thread count, or None (unset, or rejected with a warning)."""
    env = os.environ.get(ENV_THREADS, "").strip()
    if not env:
        return None
    most = max(os.cpu_count() or 1, cpu_quota())
    try:
        n = int(env)
    except ValueError:
        n = 0
    if not 1 <= n <= most:
        _warn_once(f"genlearn: ignoring {ENV_THREADS}={env!r}: expected an integer from 1 to "
                   f"{most} (this machine's CPUs); choosing automatically.")
        return None
    return n


def _set_elsewhere(state: _ThreadState) -> bool:
    """True if someone called ``torch.set_num_threads`` since genlearn's last decision; that
    count is then kept for the rest of the process, and said so."""
    if state.choice is None or torch.get_num_threads() == state.choice.threads:
        return False
    state.choice, state.pinned = ThreadChoice(torch.get_num_threads(), "set with torch.set_num_threads "
                                              "outside genlearn; left as it is"), True
    return True


def _apply(state: _ThreadState, choice: ThreadChoice) -> int:
    state.choice = choice
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice.threads


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads and return how many; :func:`thread_choice` says why.

    ``n`` fixes the count for the rest of the process (:func:`follow_load` then leaves it
    alone too). Without it: ``$GENLEARN_NUM_THREADS`` if set, else :func:`choose_threads`
    from the CPU quota and the load measured now (the decision is reused for
    :data:`DECISION_TTL_S`). A ``torch.set_num_threads`` made outside genlearn is left alone.
    """
    state = _threads
    if n is not None:
        n = check_positive_int("thread count", n)  # True is not one thread
        state.pinned = True
        return _apply(state, ThreadChoice(n, "set by configure_threads"))
    if state.pinned or _set_elsewhere(state):
        return state.choice.threads
    if state.choice is None or time.monotonic() - state.time >= DECISION_TTL_S:
        override = _thread_override()
        if override is not None:
            state.choice = ThreadChoice(override, f"{ENV_THREADS}={override}")
        else:
            state.choice = choose_threads(cpu_quota(), busy_cpus())
        state.time = time.monotonic()
        # follow_load starts afresh from this decision: its next look opens a new window
        state.next_look, state.reading, state.calm_since = -math.inf, None, None
    return _apply(state, state.choice)


def follow_load(device: str | torch.device | None = None, *, proc_stat: Path | str | None = None,
                cgroup_root: Path | str | None = None, cpus: set[int] | None = None) -> None:
    """Decide the thread count again during training, as other work comes and goes.

    Every training loop but the feature nets' (cached: rebuilt, they must come out the same) calls this at each step. It does nothing until :data:`FOLLOW_S` has
    passed since its last look (one clock read); then it reads ``/proc/stat`` once, without
    waiting, and the load between this look and the last decides, by :func:`choose_threads`:
    a thread goes at once when other work takes a CPU; threads come back when other work has
    stayed under :data:`RAISE_MARGIN` for :data:`RAISE_AFTER_S` (hysteresis, so a load that
    comes and goes does not make the count flap). Left alone: a device that is not the CPU,
    a count fixed by :func:`configure_threads` ``(n)`` or by ``torch.set_num_threads``, and
    ``$GENLEARN_NUM_THREADS`` (which it applies). Never raises for lack of ``/proc/stat``.
    """
    state = _threads
    now = time.monotonic()
    if now < state.next_look:
        return
    state.next_look = now + FOLLOW_S
    if (device is not None and torch.device(device).type != CPU.type) or state.pinned or _set_elsewhere(state):
        return
    override = _thread_override()
    if override is not None:
        choice = ThreadChoice(override, f"{ENV_THREADS}={override}")
        if choice != state.choice:  # (set after the run started)
            _apply(state, choice)
        return
    try:
        reading = _read_load(proc_stat, cgroup_root, cpus)
    except (OSError, ValueError, IndexError):
        return
    last, state.reading = state.reading, reading
    if last is None or reading.wall - last.wall > STALE_S or reading.cpus != last.cpus:
        state.calm_since = None  # a first look, or the first after a pause: the next one decides
        return
    busy = _other_work(last, reading)
    if busy is None:
        return
    quota = reading.n if reading.quota is None else max(1, math.ceil(reading.quota))  # as cpu_quota()
    said = f"during training, load over the last {reading.wall - last.wall:.1f} s: "
    fewer = choose_threads(quota, busy)
    if state.choice is None or fewer.threads < torch.get_num_threads():
        state.calm_since = None
        _apply(state, ThreadChoice(fewer.threads, said + fewer.reason))
        return
    more = choose_threads(quota, busy, margin=RAISE_MARGIN)
    if more.threads <= torch.get_num_threads():
        state.calm_since = None
        return
    if state.calm_since is None:
        state.calm_since = last.wall
    if reading.wall - state.calm_since >= RAISE_AFTER_S:
        state.calm_since = None
        _apply(state, ThreadChoice(more.threads, said + more.reason + f"; under {RAISE_MARGIN} CPUs "
                                   f"for {RAISE_AFTER_S:g} s or more, so threads come back"))


def thread_choice() -> ThreadChoice | None:
    """The last decision of :func:`configure_threads` (None before the first)."""
    return _threads.choice


def describe(device: str | torch.device | None = None) -> str:
    """A few lines for ``genlearn info`` and lesson 00."""
    choice = choose_device(device)
    lines = [
        f"torch {torch.__version__}",
        f"device: {choice.device}  ({choice.reason})",
        f"CUDA available: {cuda_available()}  |  MPS available: {mps_available()}",
    ]
    if choice.device.type == "cuda":
        lines.append(f"GPU: {torch.cuda.get_device_name(choice.device)}")
    else:
        lines.append(f"CPU threads: {thread_choice()}")
        lines.append(f"  (decided at the start of each training run and followed as the load "
                     f"changes while it trains; os.cpu_count() "
                     f"{os.cpu_count()}; set {ENV_THREADS} to override)")
    lines.append(f"override with {ENV_DEVICE}=cpu|cuda|mps or --device")
    return "\n".join(lines)
