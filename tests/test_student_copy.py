"""The student-facing copy of the course holds nothing of the instructor's (scripts/student_copy.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import student_copy

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "student_copy.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True)


def test_copy_has_the_course_but_not_the_source(tmp_path):
    dest = tmp_path / "students"
    proc = _run(dest)
    assert proc.returncode == 0, proc.stderr
    assert (dest / "lessons" / "00_welcome.ipynb").is_file()
    assert sorted(p.name for p in (dest / "exercises").iterdir()) == sorted(
        p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    assert (dest / "genlearn" / "grading" / "checks.py").is_file()
    assert not (dest / "solutions").exists() and not (dest / "tests" / "grading_fixtures").exists()
    assert student_copy.leaks(dest) == []
    text = "\n".join(p.read_text(errors="replace") for p in dest.rglob("*.ipynb"))
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text


def test_copy_refuses_an_existing_folder(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 2 and "exists" in proc.stderr


def test_check_finds_private_files(tmp_path):
    (tmp_path / "solutions" / "ex01").mkdir(parents=True)
    (tmp_path / "gradebook.db").write_text("")
    proc = _run("--check", tmp_path)
    assert proc.returncode == 1
    assert "private: solutions" in proc.stdout and "private: gradebook.db" in proc.stdout


def test_in_place_removes_the_source_as_binder_does(tmp_path):
    checkout = tmp_path / "repo"
    for name in ("solutions", "exercises", "scripts", "tests"):
        shutil.copytree(ROOT / name, checkout / name)
    (checkout / "gradebook.db").write_text("")
    proc = subprocess.run([sys.executable, str(checkout / "scripts" / "student_copy.py"), "--in-place"],
                          cwd=checkout, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not (checkout / "solutions").exists() and not (checkout / "gradebook.db").exists()
    assert (checkout / "exercises").is_dir() and student_copy.leaks(checkout) == []
    assert "student_copy.py --in-place" in (ROOT / "binder" / "postBuild").read_text()
