"""genlearn.atomic: files and run folders written completely or not at all, JSON without NaN."""

import json
import math
import os
import subprocess

import pytest

from genlearn.atomic import RunFolder, RunFolderError, atomic_write, clean_stale, write_json


def strict_json(path):
    """Parse as a strict reader would: NaN, Infinity and -Infinity are errors."""
    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


def dead_pid() -> int:
    """The pid of a process that has ended (as a killed run's is)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def a_run(folder, steps=1):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"steps": steps}))
    (folder / "model.pt").write_bytes(b"weights %d" % steps)
    return folder


def test_write_json_writes_non_finite_numbers_as_null(tmp_path):
    path = write_json(tmp_path / "m.json", {"loss": math.nan, "parts": [math.inf, -math.inf, 1.5], "n": 3})
    assert strict_json(path) == {"loss": None, "parts": [None, None, 1.5], "n": 3}
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()


def test_atomic_write_keeps_the_old_file_and_no_temporary_on_failure(tmp_path):
    path = atomic_write(tmp_path / "f.bin", lambda f: f.write(b"old"))

    def half_then_fail(f):
        f.write(b"ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, half_then_fail)

    def torch_style_failure(f):  # torch's writer reports a full disk as a RuntimeError
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    with pytest.raises(OSError, match="writing .*f.bin failed: PytorchStreamWriter"):
        atomic_write(path, torch_style_failure)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_a_run_folder_appears_only_when_committed(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out) as run:
        (run.tmp / "metrics.json").write_text("{}")
        assert not out.exists() and run.tmp.parent == tmp_path and run.tmp.name.startswith(".run.tmp-")
        run.commit()
    assert os.listdir(out) == ["metrics.json"] and os.listdir(tmp_path) == ["run"]
    with pytest.raises(RuntimeError, match="crash"), RunFolder(tmp_path / "other") as run:
        (run.tmp / "metrics.json").write_text("{}")
        raise RuntimeError("crash")
    assert os.listdir(tmp_path) == ["run"]  # neither the folder nor its temporary


def test_an_existing_target_is_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        RunFolder(tmp_path / "file")
    with pytest.raises(RunFolderError, match="file is a file, not a folder"):
        RunFolder(tmp_path / "file" / "sub" / "run")  # a path under a file
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("precious")
    with pytest.raises(RunFolderError, match=r"holds files that are not a genlearn run \(thesis.tex"):
        RunFolder(tmp_path / "home", force=True)  # --force never replaces other files
    a_run(tmp_path / "run")
    with pytest.raises(RunFolderError, match="already holds a run: pass --force"):
        RunFolder(tmp_path / "run")
    (tmp_path / "empty").mkdir()
    with RunFolder(tmp_path / "empty") as run:  # an empty folder takes a run
        (run.tmp / "metrics.json").write_text("{}")
        run.commit()
    assert os.listdir(tmp_path / "empty") == ["metrics.json"]


def test_force_replaces_a_run_whole_and_only_once_the_new_one_is_complete(tmp_path):
    out = a_run(tmp_path / "run", steps=1)
    (out / "samples.png").write_bytes(b"old picture")
    with RunFolder(out, force=True) as run:
        (run.tmp / "metrics.json").write_text(json.dumps({"steps": 2}))
        assert json.loads((out / "metrics.json").read_text()) == {"steps": 1}  # still the old run
        run.commit()
    assert os.listdir(out) == ["metrics.json"]  # no file of the old run mixed in
    assert json.loads((out / "metrics.json").read_text()) == {"steps": 2}
    assert os.listdir(tmp_path) == ["run"]


def test_a_killed_runs_leftovers_are_cleaned_on_the_next_start(tmp_path):
    pid = dead_pid()
    a_run(tmp_path / "run", steps=1)
    stale = tmp_path / f".run.tmp-{pid}-abc"
    stale.mkdir()
    (stale / "metrics.json").write_text('{"steps": ')  # killed mid-write
    live = tmp_path / f".run.tmp-{os.getpid()}-xyz"    # a run in progress: left alone
    live.mkdir()
    with RunFolder(tmp_path / "run", force=True) as run:
        assert not stale.exists() and live.exists()
        (run.tmp / "metrics.json").write_text(json.dumps({"steps": 2}))
        run.commit()
    live.rmdir()
    # killed between moving the old run aside and renaming the new one in: the old comes back
    pid = dead_pid()
    os.replace(tmp_path / "run", tmp_path / f".run.old-{pid}-q")
    (tmp_path / f".run.tmp-{pid}-r").mkdir()
    assert sorted(p.name for p in clean_stale(tmp_path / "run")) == [f".run.old-{pid}-q", f".run.tmp-{pid}-r"]
    assert os.listdir(tmp_path) == ["run"] and (tmp_path / "run" / "metrics.json").is_file()
