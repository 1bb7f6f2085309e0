"""The test tiers: `pytest --fast` is exactly the marker expression the README spells out."""

import subprocess
import sys

import pytest

from conftest import NOT_FAST, ROOT


def collect(*args) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return {line for line in out.stdout.splitlines() if "::" in line}


@pytest.mark.slow
def test_fast_flag_is_the_marker_expression_and_leaves_out_every_heavy_tier():
    everything = collect()
    fast = collect("--fast")
    spelled = collect("-m", " and ".join(f"not {m}" for m in NOT_FAST))
    assert fast == spelled
    assert fast < everything
    left_out = everything - fast
    # (test_grading.py's static checks of the assignments are fast; what runs nbgrader is not)
    for heavy in ("test_lessons.py::test_lesson_executes", "test_grading.py::test_solution_gets_full_marks",
                  "test_browser.py::"):
        assert any(heavy in t for t in left_out) and not any(heavy in t for t in fast), heavy
