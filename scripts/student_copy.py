"""Write the student-facing copy of the course: everything but the instructor's source.

``solutions/`` holds the solutions and hidden tests; the grading fixtures and grading tests
are built from it; graded work (gradebook, submissions, feedback, reports) is private. A
course team publishes (or points Binder at) a copy without them::

    python scripts/student_copy.py ../genlearn-students   # a new folder (refuses an existing one)
    python scripts/student_copy.py --in-place             # remove them here (Binder's postBuild)

The copy is made from the files git tracks when this is a git checkout (so local clutter
never leaks), else from the folder's files. ``--check DIR`` verifies a copy holds nothing
private and exits 1 if it does.
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = [
    "solutions", "solutions/*",                        # solutions and hidden tests
    "tests/grading_fixtures", "tests/grading_fixtures/*",  # wrong and hostile submissions, from solutions
    "tests/grading_tools.py", "tests/test_grading.py", "tests/test_hostile.py", "tests/test_exchange.py",
    "scripts/release_exercises.py",                    # needs solutions/
    "gradebook.db", "submitted", "submitted/*", "autograded", "autograded/*", "feedback", "feedback/*",
    "release", "release/*", "source", "source/*", "grading_reports", "grading_reports/*",
]


def is_private(relpath: str) -> bool:
    return any(fnmatch.fnmatch(relpath, pattern) for pattern in PRIVATE)


def course_files(root: Path = ROOT) -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
        files = [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]
    return sorted(f for f in files if (root / f).is_file())


def leaks(folder: Path) -> list[str]:
    """Private paths present under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if is_private(str(p.relative_to(folder))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("dest", nargs="?", type=Path, help="a new folder for the copy")
    where.add_argument("--in-place", action="store_true", help="delete the private files from this checkout")
    where.add_argument("--check", type=Path, metavar="DIR", help="exit 1 if DIR holds private files")
    args = parser.parse_args(argv)
    if args.check:
        found = leaks(args.check)
        for path in found:
            print(f"private: {path}")
        return 1 if found else 0
    if args.in_place:
        for name in PRIVATE:
            path = ROOT / name
            if "*" in name or not path.exists():
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        print(f"removed the instructor's files from {ROOT}")
        return 0
    dest = args.dest.resolve()
    if dest.exists():
        parser.exit(2, f"student_copy: {dest} exists; give a new folder\n")
    n = 0
    for rel in course_files():
        if is_private(rel):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
        n += 1
    print(f"wrote {n} files to {dest} (without solutions/, grading fixtures and graded work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
