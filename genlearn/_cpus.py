"""How many CPUs this process may really use: the affinity mask and the cgroup quota.

Without PyTorch, so that the course's command line (which must start fast and never imports
torch) can share out the CPUs the same way :mod:`genlearn.device` does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


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
        quota = int((root / "cpu/cpu.cfs_quota_us").read_text())
        period = int((root / "cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cpu_quota(cgroup_root: Path | str = "/sys/fs/cgroup") -> int:
    """The number of CPUs this process may really use (at least 1).

    The smallest of the CPU affinity mask and the cgroup quota (rounded up), because
    ``os.cpu_count()`` reports the host's cores inside containers.
    """
    allowed = _allowed_cpus()
    cpus = len(allowed) if allowed else (os.cpu_count() or 1)
    quota = _cgroup_quota(Path(cgroup_root))
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)
