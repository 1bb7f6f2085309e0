import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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
