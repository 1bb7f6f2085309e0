import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The fast tier (`pytest --fast`) leaves out every test with one of these markers.
NOT_FAST = ("slow", "notebook", "grading", "browser", "hub")

# nbgrader and jupyter shell out to tools installed beside this Python (alembic, jupyter).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
# Tests must not depend on a developer's GPU choice or a warm feature cache elsewhere.
os.environ.pop("GENLEARN_DEVICE", None)


@pytest.fixture(autouse=True, scope="session")
def _feature_cache(tmp_path_factory):
    os.environ["GENLEARN_CACHE"] = str(tmp_path_factory.mktemp("genlearn-cache"))
    yield


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def fresh_threads(monkeypatch):
    """genlearn.device with no thread decision made yet and no thread or device override;
    torch's thread count is restored afterwards."""
    import torch

    from genlearn import device as dev

    monkeypatch.delenv(dev.ENV_DEVICE, raising=False)
    monkeypatch.delenv(dev.ENV_THREADS, raising=False)
    monkeypatch.setattr(dev, "_warned", set())
    monkeypatch.setattr(dev, "_threads", dev._ThreadState())   # no decision, not pinned
    threads = torch.get_num_threads()
    yield dev
    torch.set_num_threads(threads)


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help="the fast tier for the edit-test loop: deselect tests marked "
                          + ", ".join(NOT_FAST) + " (the same as -m 'not " + " and not ".join(NOT_FAST) + "')")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--fast"):
        return
    keep, drop = [], []
    for item in items:
        (drop if any(item.get_closest_marker(m) for m in NOT_FAST) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point factory for tiny tmpfs file systems (the tests run as root); skips elsewhere."""
    mounted = []

    def mount(name, size, options=""):
        point = tmp_path / name
        point.mkdir()
        opts = f"size={size}" + (f",{options}" if options else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the patched-writer tests cover the logic")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)
