"""The one place that decides where tensors live.

Order of precedence:

1. an explicit argument (``get_device("cpu")``, ``--device cuda:1``),
2. the ``GENLEARN_DEVICE`` environment variable,
3. automatic: CUDA if available, else Apple MPS, else the CPU.

Asking for a device that is not there (``GENLEARN_DEVICE=cuda`` on a laptop) warns once,
says why, and falls back to the CPU; it never crashes a lesson.

On the CPU we also set PyTorch's thread count from the *real* CPU quota. Containers such
as Binder or a JupyterHub pod report the host's cores through ``os.cpu_count()``; with
more threads than the quota allows, small models ran 3-4x slower on a busy machine.
``GENLEARN_NUM_THREADS`` overrides the choice.

No other module in genlearn names a device type: they call :func:`get_device` or ask a
tensor for its ``.device``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

ENV_DEVICE = "GENLEARN_DEVICE"
ENV_THREADS = "GENLEARN_NUM_THREADS"

CPU = torch.device("cpu")
"""Where checkpoints are staged and numpy conversions happen."""

_KNOWN_TYPES = ("cpu", "cuda", "mps")
_warned: set[str] = set()
_threads_configured = False


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


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max`` or v1 ``cfs_quota_us``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def cpu_quota(cgroup_root: Path | str = "/sys/fs/cgroup") -> int:
    """The number of CPUs this process may really use (at least 1).

    The smallest of the CPU affinity mask and the cgroup quota (rounded up), because
    ``os.cpu_count()`` reports the host's cores inside containers.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(Path(cgroup_root))
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n``, ``$GENLEARN_NUM_THREADS``, or the CPU quota.

    Without an explicit ``n`` this runs once per process, so a user's own
    ``torch.set_num_threads`` later on is not undone.
    """
    global _threads_configured
    if n is None:
        if _threads_configured:
            return torch.get_num_threads()
        env = os.environ.get(ENV_THREADS, "").strip()
        if env:
            try:
                n = int(env)
            except ValueError:
                n = 0
            if n < 1:
                _warn_once(f"genlearn: ignoring {ENV_THREADS}={env!r}: expected a positive integer.")
                n = cpu_quota()
        else:
            n = cpu_quota()
    elif n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    torch.set_num_threads(int(n))
    _threads_configured = True
    return int(n)


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
        lines.append(
            f"CPU threads: {torch.get_num_threads()} (quota {cpu_quota()}, "
            f"os.cpu_count() {os.cpu_count()}; set {ENV_THREADS} to override)"
        )
    lines.append(f"override with {ENV_DEVICE}=cpu|cuda|mps or --device")
    return "\n".join(lines)
