"""genlearn.atomic: files and run folders written completely or not at all, JSON without NaN."""

import json
import math
import os
import subprocess
import sys

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


# ---------------------------------------------------------------- issue 26: claims, exchange, signals

def test_exchange_swaps_two_folders_in_one_step_or_says_it_cannot(tmp_path, monkeypatch):
    import genlearn.atomic as atomic

    a, b = a_run(tmp_path / "a", steps=1), a_run(tmp_path / "b", steps=2)
    if not atomic.exchange(a, b):
        pytest.skip("this system or file system has no atomic exchange (the two-rename path is tested below)")
    assert json.loads((a / "metrics.json").read_text()) == {"steps": 2}
    assert json.loads((b / "metrics.json").read_text()) == {"steps": 1}
    with pytest.raises(FileNotFoundError):
        atomic.exchange(a, tmp_path / "missing")  # both must exist: an error, nothing changed
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_claim_is_exclusive_while_its_run_lives_and_gone_after(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out) as first:
        assert (tmp_path / ".run.genlearn-lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunFolderError, match=f"is being written by another genlearn run \\(pid {os.getpid()}\\)"):
            RunFolder(out, force=True)
        with RunFolder(tmp_path / "other") as other:  # another --out in the same folder is free
            (other.tmp / "metrics.json").write_text("{}")
            other.commit()
        (first.tmp / "metrics.json").write_text("{}")
        first.commit()
    assert sorted(os.listdir(tmp_path)) == ["other", "run"]
    # a claim left by a kill -9 (its file stays, its lock went with the process) is taken over
    (tmp_path / ".new.genlearn-lock").write_text(f"{dead_pid()}\n")
    with RunFolder(tmp_path / "new") as run:
        assert (tmp_path / ".new.genlearn-lock").read_text() == f"{os.getpid()}\n"
        (run.tmp / "metrics.json").write_text("{}")
        run.commit()
    assert sorted(os.listdir(tmp_path)) == ["new", "other", "run"]


def test_a_claim_held_by_another_process_refuses_and_its_end_frees_the_target(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, genlearn.atomic as a\n"
        f"run = a.RunFolder({str(out)!r})\n"
        "print('claimed', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "claimed\n"
        with pytest.raises(RunFolderError, match=f"being written by another genlearn run \\(pid {holder.pid}\\)"):
            RunFolder(out)
    finally:
        holder.kill()  # a kill -9: no clean-up ran
        holder.wait()
    assert any(p.name == ".run.genlearn-lock" for p in tmp_path.iterdir())
    with RunFolder(out) as run:  # the kernel let go of the lock with the process
        (run.tmp / "metrics.json").write_text("{}")
        run.commit()
    assert os.listdir(tmp_path) == ["run"]


def test_signals_are_delivered_after_the_block_that_defers_them():
    import signal

    from genlearn.atomic import signals_deferred

    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(("handler", signum)))
    try:
        with signals_deferred():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            seen.append("block done")
        assert seen == ["block done", ("handler", signal.SIGTERM)]  # once, after the block
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with signals_deferred():
            signal.raise_signal(signal.SIGTERM)  # ignored before: ignored still, not delivered after
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN and len(seen) == 2
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("exchange_works", [True, False], ids=["exchange", "two renames"])
def test_force_replaces_by_exchange_or_by_two_renames_and_puts_back_what_changed(tmp_path, exchange_works,
                                                                               monkeypatch):
    import genlearn.atomic as atomic

    if not exchange_works:
        monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    out = a_run(tmp_path / "run", steps=1)
    with RunFolder(out, force=True) as run:
        (run.tmp / "metrics.json").write_text(json.dumps({"steps": 2}))
        run.commit()
    assert json.loads((out / "metrics.json").read_text()) == {"steps": 2} and os.listdir(tmp_path) == ["run"]
    # a file that is not a run's arrives between the check and the replacement: all put back
    real_is_run = atomic.is_run
    checks = []

    def is_run_then_a_file_arrives(folder):
        result = real_is_run(folder)
        checks.append(folder)
        if len(checks) == 3:  # (two checks at the start, one at commit) then the user saves notes there
            (out / "notes.txt").write_text("mine")
        return result

    monkeypatch.setattr(atomic, "is_run", is_run_then_a_file_arrives)
    with RunFolder(out, force=True) as run:
        (run.tmp / "metrics.json").write_text(json.dumps({"steps": 3}))
        with pytest.raises(atomic.CommitError, match=r"now holds files that are not a genlearn run \(notes.txt"):
            run.commit()
    assert len(checks) == 5  # after the swap the earlier folder was checked, put back, and described
    assert sorted(os.listdir(out)) == ["metrics.json", "notes.txt"]
    assert json.loads((out / "metrics.json").read_text()) == {"steps": 2}
    kept = tmp_path / f"run.unsaved-{os.getpid()}"
    assert json.loads((kept / "metrics.json").read_text()) == {"steps": 3}
    assert sorted(os.listdir(tmp_path)) == ["run", kept.name]
