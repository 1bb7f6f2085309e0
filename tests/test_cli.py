import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from genlearn.checkpoints import load_checkpoint
from genlearn.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "genlearn.cli", *args], capture_output=True, text=True, timeout=300)


def test_info_names_version_device_and_reason(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch " in out and "device: " in out and "automatic choice" in out


def test_info_says_which_threads_and_why(fresh_threads, monkeypatch, capsys):
    """A 4-CPU quota with one busy process: 2 threads, and the sentence says both reasons."""
    dev = fresh_threads
    monkeypatch.setenv(dev.ENV_DEVICE, "cpu")
    monkeypatch.setattr(dev, "cpu_quota", lambda *a, **k: 4)
    monkeypatch.setattr(dev, "busy_cpus", lambda *a, **k: 1.0)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "CPU threads: 2 threads (CPU quota 4; 1.0 CPUs busy with other work" in out
    assert "one CPU left for JupyterLab" in out
    monkeypatch.setenv(dev.ENV_THREADS, "3")
    monkeypatch.setattr(dev._threads, "time", float("-inf"))
    assert main(["info"]) == 0
    assert f"CPU threads: 3 threads ({dev.ENV_THREADS}=3)" in capsys.readouterr().out


def test_train_gan_writes_all_outputs(tmp_path, capsys):
    out = tmp_path / "ring"
    assert main(["train", "gan", "--data", "ring", "--steps", "60", "--seed", "1", "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == "cpu" and metrics["steps"] == 60 and metrics["train_seconds"] > 0
    assert metrics["modes_total"] == 8 and 0 <= metrics["modes_covered"] <= 8
    assert 0 <= metrics["high_quality_fraction"] <= 1
    samples = np.load(out / "samples.npy")
    assert samples.shape == (2500, 2) and np.isfinite(samples).all()
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"
    model, meta = load_checkpoint(out / "model.pt", expect="gan")
    assert meta["steps"] == 60
    assert "modes_covered=" in capsys.readouterr().out


@pytest.mark.slow
def test_train_vae_with_time_budget(tmp_path):
    out = tmp_path / "vae"
    assert main(["train", "vae", "--data", "digits", "--epochs", "500", "--max-seconds", "1",
                 "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped"] == "time budget" and metrics["train_seconds"] < 5
    assert metrics["test_iwae_nats"] <= metrics["test_nelbo_nats"] + 0.5
    assert 0 < metrics["test_nelbo_nats"] < 64 * np.log(2) * 1.5  # better than ~coin flips per pixel
    assert np.load(out / "samples.npy").shape == (2500, 1, 8, 8)


@pytest.mark.parametrize("args,message", [
    (["train", "gan", "--data", "mnist", "--out", "x"], "invalid choice: 'mnist'"),
    (["train", "gan", "--data", "ring", "--steps", "-5", "--out", "x"], "argument --steps: steps must be >= 1, got -5"),
    (["train", "vae", "--data", "digits", "--max-seconds", "0", "--out", "x"], "max_seconds must be > 0"),
    (["train", "vae", "--data", "digits", "--seed", "x1", "--out", "x"], "expected an integer, got 'x1'"),
    (["train", "gan", "--data", "patterns", "--out", "x"], "invalid choice: 'patterns'"),
    (["train", "vae", "--data", "digits", "--steps", "5", "--out", "x"], "--steps applies to GANs"),
    (["train", "gan", "--data", "ring", "--device", "tpu", "--out", "x"], "unknown device 'tpu'"),
    (["train", "gan", "--data", "ring"], "required: --out"),
    (["train", "gan", "--data", "ring", "--seed", "99999999999999999999", "--out", "x"],
     "argument --seed: seed must be between 0 and 4294967295, got 99999999999999999999"),
    (["train", "gan", "--data", "ring", "--seed", "-1", "--out", "x"], "argument --seed: seed must be >= 0, got -1"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_get_one_line_and_exit_2(args, message, capsys):
    try:
        code = main(args)
    except SystemExit as stop:  # argparse's errors
        code = stop.code
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert message in lines[0] and "error" in lines[0]


@pytest.mark.slow
def test_the_command_reports_bad_arguments_from_a_shell():
    result = run_cli("train", "gan", "--data", "ring", "--steps", "-5", "--out", "x")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "argument --steps: steps must be >= 1, got -5" in result.stderr


@pytest.mark.slow
def test_unavailable_device_falls_back_with_a_warning(tmp_path):
    result = run_cli("train", "gan", "--data", "ring", "--steps", "5", "--device", "cuda", "--quiet",
                     "--out", str(tmp_path / "o"))
    if "cuda" in json.loads((tmp_path / "o" / "metrics.json").read_text())["device"]:
        pytest.skip("this machine has CUDA")
    assert result.returncode == 0, result.stderr
    assert "falling back to the CPU" in result.stderr


@pytest.mark.slow
def test_console_script_is_installed():
    import shutil

    exe = shutil.which("genlearn")
    assert exe, "pip install -e . should put a genlearn command on PATH"
    result = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "genlearn" in result.stdout


# ---------------------------------------------------------------- a run is complete or absent

def cli(capsys, *args):
    """``genlearn ARGS`` in this process: (exit status, stderr lines that are not warnings)."""
    try:
        code = main(list(map(str, args)))
    except SystemExit as stop:  # argparse's errors
        code = stop.code
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip() and "Warning" not in line
                  and not line.startswith("  ")]


GAN_RING = ("train", "gan", "--data", "ring", "--steps", "5", "--quiet")


@pytest.fixture(scope="module")
def ring_result():
    """One real 5-step run, reused by the tests of writing (they need no new training)."""
    from genlearn.recipes import fit
    return fit("gan", "ring", steps=5, progress=False)


@pytest.fixture
def no_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("trained although --out could have been refused first")
    monkeypatch.setattr("genlearn.cli.fit", fail)


@pytest.fixture
def earlier_run(tmp_path, ring_result, monkeypatch, capsys):
    """tmp_path/run holds a finished run; returns {file: bytes} of it. Later fits return the
    same result with 7 steps, so a replaced run is told apart by its metrics."""
    import copy
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: ring_result)
    assert cli(capsys, *GAN_RING, "--out", tmp_path / "run") == (0, [])
    later = copy.copy(ring_result)
    later.metrics = {**ring_result.metrics, "steps": 7}
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: later)
    return {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}


def files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_out_is_refused_before_training_when_it_cannot_take_a_run(tmp_path, no_training, capsys):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    for out, message in [(tmp_path / "a_file", "is a file, not a folder"),
                         (tmp_path / "a_file" / "run", "a_file is a file, not a folder"),
                         (tmp_path / "mine", "holds files that are not a genlearn run (notes.txt")]:
        code, lines = cli(capsys, *GAN_RING, "--out", out)
        assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert sorted(os.listdir(tmp_path)) == ["a_file", "mine"]


def test_an_earlier_run_is_kept_unless_forced_and_then_replaced_whole(tmp_path, earlier_run, capsys):
    out = tmp_path / "run"
    code, lines = cli(capsys, *GAN_RING, "--out", out)
    assert code == 2 and lines == [f"genlearn: error: --out {out} already holds a run: pass --force to "
                                   "replace it (once the new run is complete), or choose another folder"]
    assert files(out) == earlier_run
    assert cli(capsys, *GAN_RING, "--force", "--out", out) == (0, [])
    assert json.loads((out / "metrics.json").read_text())["steps"] == 7
    assert sorted(files(out)) == sorted(earlier_run) and os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("failing", ["samples.npy", "samples.png", "model.pt", "metrics.json"])
def test_a_failed_write_leaves_the_earlier_run_whole_and_no_debris(tmp_path, earlier_run, failing,
                                                                   monkeypatch, capsys):
    import genlearn.cli as cli_module
    real = cli_module._outputs

    def outputs(result):
        writers = real(result)

        def half_then_fail(path):  # as a full disk does: part of the file, then an error
            path.write_bytes(b"partial")
            raise OSError(28, "No space left on device")
        return {**writers, failing: half_then_fail}

    monkeypatch.setattr(cli_module, "_outputs", outputs)
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", tmp_path / "run")
    assert code == 1 and len(lines) == 1 and "No space left on device" in lines[0]
    assert "earlier run there is untouched" in lines[0]
    assert files(tmp_path / "run") == earlier_run and os.listdir(tmp_path) == ["run"]


def test_a_full_disk_is_found_before_training(tmpfs, earlier_run, tmp_path, monkeypatch, capsys):
    """Issue 26, case 4: the run's size is known before it trains (its checkpoint and samples),
    so a disk without room for it is refused at once, not after training."""
    size = sum(map(len, earlier_run.values()))
    disk = tmpfs("disk", int(1.5 * size))  # room for one run, not for a second beside it
    out = disk / "run"
    assert cli(capsys, *GAN_RING, "--out", out) == (0, [])
    first = files(out)
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: pytest.fail("trained on a disk without room"))
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", out)
    assert code == 2 and len(lines) == 1, lines
    assert "not enough free space: the run needs about 1.3 MB, its disk has" in lines[0]
    assert files(out) == first and os.listdir(disk) == ["run"]


def test_a_disk_that_fills_during_training_costs_the_new_run_only(tmpfs, earlier_run, ring_result,
                                                                   monkeypatch, capsys):
    size = sum(map(len, earlier_run.values()))
    disk = tmpfs("disk", int(2.6 * size))
    out = disk / "run"
    assert cli(capsys, *GAN_RING, "--out", out) == (0, [])
    first = files(out)

    def fit_while_something_fills_the_disk(*args, **kwargs):
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "other.bin").write_bytes(b"x" * (free - 300_000))
        return ring_result

    monkeypatch.setattr("genlearn.cli.fit", fit_while_something_fills_the_disk)
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", out)
    assert code == 1 and len(lines) == 1 and "No space left on device" in lines[0], lines
    assert files(out) == first and sorted(os.listdir(disk)) == ["other.bin", "run"]


def test_too_few_inodes_are_found_before_training_and_a_replacement_needs_none_at_commit(
        tmpfs, earlier_run, ring_result, monkeypatch, capsys):
    """Issue 26, case 4: out of inodes at commit, a finished run was discarded. Now the run's
    files are counted before training, and putting it in place takes no new inode."""
    # a file system of 11 inodes: its root, an earlier run (a folder, 4 files), 5 free
    disk = tmpfs("few", "8m", "nr_inodes=11")
    out = disk / "run"
    assert cli(capsys, *GAN_RING, "--out", out) == (0, [])
    first = files(out)
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: pytest.fail("trained without the inodes to write"))
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", out)
    assert code == 2 and len(lines) == 1 and "5 free inodes (files) left, the run needs 6" in lines[0], lines
    assert files(out) == first and os.listdir(disk) == ["run"]
    # 12 inodes: exactly the new run's claim, folder and files; none to spare for the replacement
    disk = tmpfs("enough", "8m", "nr_inodes=12")
    out = disk / "run"
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: ring_result)
    assert cli(capsys, *GAN_RING, "--out", out) == (0, [])
    later = copy.copy(ring_result)
    later.metrics = {**ring_result.metrics, "steps": 7}
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: later)
    assert cli(capsys, *GAN_RING, "--force", "--out", out) == (0, [])
    assert json.loads((out / "metrics.json").read_text())["steps"] == 7 and os.listdir(disk) == ["run"]


def test_a_read_only_target_is_refused_before_training(tmpfs, no_training, capsys):
    disk = tmpfs("ro", "64k", "ro")
    code, lines = cli(capsys, *GAN_RING, "--out", disk / "run")
    assert code == 2 and len(lines) == 1 and "cannot write there (Read-only file system)" in lines[0], lines


@pytest.mark.slow
@pytest.mark.parametrize("killed_at", ["samples.npy", "samples.png", "model.pt", "metrics.json"])
def test_a_kill_during_any_write_leaves_the_earlier_run(tmp_path, earlier_run, killed_at, capsys):
    """A real kill (no cleanup runs): the earlier run survives, and the next start removes
    the killed run's temporary folder."""
    out = tmp_path / "run"
    driver = (
        "import os, sys\n"
        "import genlearn.cli as c\n"
        "real = c._outputs\n"
        "def outputs(result):\n"
        "    writers = real(result)\n"
        "    def killed(path):\n"
        "        path.write_bytes(b'half')\n"
        "        os._exit(137)\n"
        f"    return {{**writers, {killed_at!r}: killed}}\n"
        "c._outputs = outputs\n"
        f"sys.exit(c.main(['train', 'gan', '--data', 'ring', '--steps', '5', '--quiet', '--force', '--out', {str(out)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stderr
    assert files(out) == earlier_run
    (stale,) = [p for p in tmp_path.iterdir() if p.name.startswith(".run.tmp-")]
    assert killed_at in os.listdir(stale)
    assert cli(capsys, *GAN_RING, "--force", "--out", out) == (0, [])
    assert os.listdir(tmp_path) == ["run"] and json.loads((out / "metrics.json").read_text())["steps"] == 7


# ---------------------------------------------------------------- one run per --out

def test_a_second_run_on_the_same_out_is_refused_before_training(tmp_path, no_training, capsys):
    """Issue 26, case 1: two runs on one --out both trained and one replaced the other; now
    the first claims --out (.run.genlearn-lock, locked while it lives) and the second is refused at once."""
    from genlearn.atomic import RunFolder

    out = tmp_path / "run"
    with RunFolder(out):  # another run, writing there
        code, lines = cli(capsys, *GAN_RING, "--force", "--out", out)
        assert code == 2 and lines == [f"genlearn: error: --out {out} is being written by another genlearn "
                                       f"run (pid {os.getpid()}): wait for it to end, or choose another folder"]
    assert os.listdir(tmp_path) == []  # the claim ends with its run


@pytest.mark.parametrize("force", [False, True])
def test_commit_checks_out_again_and_keeps_a_run_it_cannot_put_there(tmp_path, ring_result, force,
                                                                      monkeypatch, capsys):
    """Issue 26, case 1: what appears in --out while a run trains (another tool, an older
    genlearn) is never replaced silently; the finished run is kept beside it, and the line
    says where."""
    out = tmp_path / "run"

    def fit_while_out_fills(*args, **kwargs):
        out.mkdir()
        (out / ("metrics.json" if not force else "notes.txt")).write_text("someone else's")
        return ring_result

    monkeypatch.setattr("genlearn.cli.fit", fit_while_out_fills)
    code, lines = cli(capsys, *GAN_RING, *(["--force"] if force else []), "--out", out)
    kept = tmp_path / f"run.unsaved-{os.getpid()}"
    now = "now holds files that are not a genlearn run (notes.txt, ...)" if force else "now holds a run"
    assert code == 1 and len(lines) == 1 and f"--out {out} {now}" in lines[0], lines
    assert lines[0].endswith(f"; the finished run is kept in {kept}")
    assert [p.read_text() for p in out.iterdir()] == ["someone else's"]
    assert sorted(os.listdir(kept)) == sorted(["metrics.json", "model.pt", "samples.npy", "samples.png"])
    assert sorted(os.listdir(tmp_path)) == ["run", kept.name]


def _renames_that_fail(monkeypatch, exchange_works: bool):
    """Putting the run in place fails as a full disk would (the folder renames only)."""
    import genlearn.atomic as atomic

    real_replace = os.replace

    def replace(src, dst, **kw):
        if os.path.basename(os.fspath(src)).startswith(".run.tmp-"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, **kw)

    def exchange(a, b):
        if not exchange_works:
            return False
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(atomic, "exchange", exchange, raising=False)


@pytest.mark.parametrize("exchange_works", [True, False], ids=["exchange", "two renames"])
def test_a_run_that_cannot_be_put_in_place_is_kept_and_the_earlier_one_stays(tmp_path, earlier_run,
                                                                              exchange_works, monkeypatch, capsys):
    _renames_that_fail(monkeypatch, exchange_works)
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", tmp_path / "run")
    kept = tmp_path / f"run.unsaved-{os.getpid()}"
    assert code == 1 and len(lines) == 1 and "No space left on device" in lines[0], lines
    assert lines[0].endswith(f"the finished run is kept in {kept}")
    assert files(tmp_path / "run") == earlier_run
    assert json.loads((kept / "metrics.json").read_text())["steps"] == 7
    assert sorted(os.listdir(tmp_path)) == ["run", kept.name]


def test_any_later_run_cleans_up_after_killed_runs_beside_it(tmp_path, ring_result, monkeypatch, capsys):
    """Issue 26, case 3: a killed run's temporary folder was removed only by a later run to the
    same --out; now any run in that folder removes the leftovers of runs that are gone."""
    from genlearn.atomic import RunFolder
    from test_atomic import a_run, dead_pid

    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: ring_result)
    gone = dead_pid()
    (tmp_path / f".other.tmp-{gone}-abc").mkdir()
    (tmp_path / f".other.tmp-{gone}-abc" / "samples.npy").write_bytes(b"half")
    (tmp_path / ".other.genlearn-lock").write_text(f"{gone}\n")  # left by a kill -9; nobody holds it
    a_run(tmp_path / f".moved.old-{gone}-q")             # killed between its two renames
    others = [f".notes.tmp-{gone}-x", ".tool.lock"]      # another program's, named alike: they stay
    (tmp_path / others[0]).mkdir()
    (tmp_path / others[0] / "draft.txt").write_text("mine")
    (tmp_path / others[1]).write_text(f"{gone}\n")
    with RunFolder(tmp_path / "busy") as busy:          # a live run elsewhere in the folder
        assert cli(capsys, *GAN_RING, "--out", tmp_path / "run") == (0, [])
        assert sorted(os.listdir(tmp_path)) == sorted([".busy.genlearn-lock", busy.tmp.name, "moved", "run", *others])
    assert sorted(os.listdir(tmp_path)) == sorted(["moved", "run", *others])
    assert json.loads((tmp_path / "moved" / "metrics.json").read_text()) == {"steps": 1}


@pytest.mark.slow
def test_two_runs_started_together_on_one_out(tmp_path):
    """Issue 26, case 1, for real: two processes, one --out; exactly one trains and writes."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "genlearn.cli", "train", "gan", "--data", "ring", "--steps", "300",
            "--quiet", "--out", str(out)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)
    (won, _), (refused, err) = results
    assert (won, refused) == (0, 2), results
    assert f"--out {out} is being written by another genlearn run (pid " in err
    assert json.loads((out / "metrics.json").read_text())["steps"] == 300 and os.listdir(tmp_path) == ["run"]


# ---------------------------------------------------------------- Ctrl-C, SIGTERM, SIGHUP

class SignalNotHandled(Exception):
    """A SIGTERM or SIGHUP that the command did not handle (it would have ended the process)."""


@pytest.fixture
def terminal():
    """Signal dispositions as a command run from an interactive terminal has them, however
    pytest was started: Ctrl-C raises KeyboardInterrupt; SIGTERM and SIGHUP, which would end
    the process, raise SignalNotHandled in this one instead, so a command that does not
    handle them fails its test, not the test session.

    Why it matters (issue 26): a process started in the background by a non-interactive shell
    (``pytest &`` in a script, some CI runners) inherits SIGINT *ignored* (POSIX), and Python
    then leaves it ignored. The Ctrl-C test raised SIGINT into the void, training ran to its
    end, and the test saw exit status 0: a test that depended on how pytest was started, not
    a lost signal (``bash -c 'pytest tests/test_cli.py -k ctrl_c_gives & wait'`` failed every
    time before this fixture)."""
    def not_handled(signum, frame):
        raise SignalNotHandled(signal.Signals(signum).name)

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, not_handled)
    signal.signal(signal.SIGHUP, not_handled)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture
def no_terminal_to_lose(monkeypatch):
    """SIGHUP sends output to /dev/null when stdout/stderr are a terminal: not the developer's."""
    calls = []
    monkeypatch.setattr("genlearn.cli._quiet_lost_terminal", lambda: calls.append(1), raising=False)
    return calls


def signal_after(monkeypatch, steps, signum=signal.SIGINT):
    """Make ``genlearn train`` receive a real ``signum`` once training has run ``steps`` steps."""
    from genlearn import recipes

    def fit(*args, callbacks=(), **kwargs):
        def press(history):
            if history.steps >= steps:
                signal.raise_signal(signum)
        return recipes.fit(*args, callbacks=[press, *callbacks], **kwargs)

    monkeypatch.setattr("genlearn.cli.fit", fit)


def signal_while_training(monkeypatch, result, signum):
    """``genlearn train`` receives ``signum`` during a training that then returns ``result``
    (the tests that need no real training: they are about what the command does next)."""
    def fit(*args, **kwargs):
        signal.raise_signal(signum)
        return result

    monkeypatch.setattr("genlearn.cli.fit", fit)


STOPS = [(signal.SIGINT, 130, ""), (signal.SIGTERM, 143, " (SIGTERM)"), (signal.SIGHUP, 129, " (SIGHUP)")]


@pytest.mark.parametrize("signum,status,named", STOPS, ids=["Ctrl-C", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_gives_one_line_its_exit_status_and_writes_nothing(tmp_path, terminal, no_terminal_to_lose,
                                                                        ring_result, signum, status, named,
                                                                        monkeypatch, capsys):
    """Issue 26, case 3: SIGTERM (kill, timeout, a Jupyter kernel restart) and SIGHUP (a closed
    terminal) ended genlearn with no message; now they stop it as Ctrl-C does."""
    if signum == signal.SIGINT:
        signal_after(monkeypatch, 10, signum)  # inside real training
    else:
        signal_while_training(monkeypatch, ring_result, signum)
    code, lines = cli(capsys, "train", "gan", "--data", "ring", "--steps", "500", "--quiet",
                      "--out", tmp_path / "run")
    assert code == status and lines == [f"genlearn: interrupted{named}; nothing written "
                                        "(--keep-interrupted keeps a partial run)"]
    assert os.listdir(tmp_path) == []
    assert len(no_terminal_to_lose) == (signum == signal.SIGHUP)


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)],
                         ids=["Ctrl-C", "SIGTERM"])
def test_keep_interrupted_saves_the_partial_run_as_such(tmp_path, terminal, signum, status, monkeypatch, capsys):
    signal_after(monkeypatch, 10, signum)
    out = tmp_path / "run"
    code, lines = cli(capsys, "train", "gan", "--data", "ring", "--steps", "500", "--quiet",
                      "--keep-interrupted", "--out", out)
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert code == status and lines == [
        f"genlearn: {name}: stopping at the next log point ({name} again to abandon the run)",
        f"genlearn: interrupted after 100 steps; the partial run is in {out}"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped"] == "interrupted" and metrics["steps"] == 100  # stopped at the first log point
    assert 0 <= metrics["modes_covered"] <= 8 and load_checkpoint(out / "model.pt")[1]["stopped"] == "interrupted"
    assert os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["Ctrl-C", "SIGTERM"])
def test_a_stop_signal_while_writing_leaves_the_earlier_run_and_no_debris(tmp_path, earlier_run, terminal, signum,
                                                                         status, monkeypatch, capsys):
    import genlearn.cli as cli_module
    real = cli_module._outputs

    def outputs(result):
        writers = real(result)

        def png_then_signal(path):
            writers["samples.png"](path)
            signal.raise_signal(signum)
        return {**writers, "samples.png": png_then_signal}

    monkeypatch.setattr(cli_module, "_outputs", outputs)
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", tmp_path / "run")
    assert code == status and len(lines) == 1 and "nothing written" in lines[0], lines
    assert files(tmp_path / "run") == earlier_run and os.listdir(tmp_path) == ["run"]


def _signal_inside_the_commit(monkeypatch, signum, exchange_works: bool):
    """``signum`` arrives right after the first rename (or the exchange) that puts a run in place."""
    import genlearn.atomic as atomic

    real_replace, real_exchange = os.replace, getattr(atomic, "exchange", None)

    def replace(src, dst, **kw):
        real_replace(src, dst, **kw)
        if os.path.basename(os.fspath(src)) == "run" or os.path.basename(os.fspath(src)).startswith(".run.tmp-"):
            signal.raise_signal(signum)

    def exchange(a, b):
        if not exchange_works or not real_exchange(a, b):
            return False
        signal.raise_signal(signum)
        return True

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(atomic, "exchange", exchange, raising=False)


@pytest.mark.parametrize("exchange_works", [True, False], ids=["exchange", "two renames"])
@pytest.mark.parametrize("signum,status,name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")],
                         ids=["Ctrl-C", "SIGTERM"])
def test_a_stop_signal_never_splits_putting_a_run_in_place(tmp_path, earlier_run, terminal, signum, status, name,
                                                           exchange_works, monkeypatch, capsys):
    """Issue 26, case 2: Ctrl-C between the two renames of a --force replacement said "nothing
    written", deleted the finished run and left the earlier one hidden. Now the replacement is
    one exchange (or two renames that signals wait for), and the line says what is there."""
    _signal_inside_the_commit(monkeypatch, signum, exchange_works)
    out = tmp_path / "run"
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", out)
    assert code == status and lines == [f"genlearn: interrupted ({name}) after the run was complete: it is in {out}"]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 7
    assert sorted(files(out)) == sorted(earlier_run) and os.listdir(tmp_path) == ["run"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["background job", "nohup"])
@pytest.mark.parametrize("keep", [[], ["--keep-interrupted"]], ids=["", "keep"])
def test_a_signal_ignored_when_genlearn_starts_stays_ignored(tmp_path, terminal, ring_result, signum, keep,
                                                             monkeypatch, capsys):
    """A shell ignores SIGINT for its background jobs and nohup ignores SIGHUP so that a run
    outlives its terminal: genlearn keeps them ignored, --keep-interrupted or not."""
    signal.signal(signum, signal.SIG_IGN)
    signal_while_training(monkeypatch, ring_result, signum)
    out = tmp_path / "run"
    assert cli(capsys, *GAN_RING, *keep, "--out", out) == (0, [])
    assert json.loads((out / "metrics.json").read_text())["stopped"] == "finished"
    assert signal.getsignal(signum) is signal.SIG_IGN


def _until_training(proc, folder, seconds=60):
    """Wait until ``proc`` has claimed its --out in ``folder`` and started training."""
    deadline = time.monotonic() + seconds
    while not any(p.name.startswith(".run.tmp-") for p in folder.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    time.sleep(1.0)


def _as_from_a_terminal():
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # whatever pytest inherited
        signal.signal(signum, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("signum,status,named", STOPS, ids=["Ctrl-C", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_from_outside(tmp_path, signum, status, named):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "genlearn.cli", "train", "gan", "--data", "grid", "--steps",
                             "1000000", "--quiet", "--out", str(out)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)
    try:
        _until_training(proc, tmp_path)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # (no-op once it has ended)
        proc.wait()
    assert proc.returncode == status
    assert [line for line in err.splitlines() if line.strip()] == [
        f"genlearn: interrupted{named}; nothing written (--keep-interrupted keeps a partial run)"]
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_a_kill_right_after_the_exchange_leaves_the_new_run_in_place(tmp_path, earlier_run, capsys):
    """Issue 26, case 2: kill -9 between the two renames left --out missing until the next run.
    With an exchange there is no such moment: --out holds the earlier run or the new one."""
    out = tmp_path / "run"
    driver = (
        "import os, sys\n"
        "import genlearn.atomic as a, genlearn.cli as c\n"
        "real_replace, real_exchange = os.replace, getattr(a, 'exchange', None)\n"
        "def replace(src, dst, **kw):\n"
        "    real_replace(src, dst, **kw)\n"
        "    if os.path.basename(os.fspath(src)) == 'run': os._exit(137)\n"
        "def exchange(x, y):\n"
        "    if real_exchange(x, y): os._exit(137)\n"
        "    return False\n"
        "os.replace, a.exchange = replace, exchange\n"
        f"sys.exit(c.main(['train', 'gan', '--data', 'ring', '--steps', '7', '--quiet', '--force', '--out', {str(out)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["steps"] == 7 and len(files(out)) == 4
    assert cli(capsys, *GAN_RING, "--out", tmp_path / "another") == (0, [])  # any later run there tidies up
    assert sorted(os.listdir(tmp_path)) == ["another", "run"]


# ---------------------------------------------------------------- divergence

def test_divergence_stops_with_the_step_and_exits_1(tmp_path, monkeypatch, capsys):
    from genlearn import recipes
    real = recipes.load_data

    def exploded(kind, data_name, split="train", seed=0):  # data at 1e30: the Gaussian VAE's loss overflows
        data = real(kind, data_name, split, seed)
        data.x = data.x * 1e30 if split == "train" else data.x
        return data

    monkeypatch.setattr(recipes, "load_data", exploded)
    code, lines = cli(capsys, "train", "vae", "--data", "ring", "--epochs", "1", "--quiet", "--out", tmp_path / "run")
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("genlearn: error: training diverged at step 1: loss = inf. Likely causes: "
                               "a learning rate too high (lr=0.002), or data with extreme values")
    assert lines[0].endswith("nothing written to " + str(tmp_path / "run")) and os.listdir(tmp_path) == []


# ---------------------------------------------------------------- the tour

@pytest.fixture(scope="module")
def vae_result():
    from genlearn.recipes import fit
    return fit("vae", "digits", epochs=1, progress=False)


def test_a_signal_after_the_commit_says_the_run_is_there(tmp_path, ring_result, terminal, monkeypatch, capsys):
    import genlearn.cli as cli_module

    monkeypatch.setattr(cli_module, "fit", lambda *a, **k: ring_result)
    real_summary = cli_module._summary

    def summary_then_sigterm(metrics):
        signal.raise_signal(signal.SIGTERM)
        return real_summary(metrics)

    monkeypatch.setattr(cli_module, "_summary", summary_then_sigterm)
    out = tmp_path / "run"
    code, lines = cli(capsys, *GAN_RING, "--out", out)
    assert code == 143 and lines == [f"genlearn: interrupted (SIGTERM) after the run was complete: it is in {out}"]
    assert len(files(out)) == 4 and os.listdir(tmp_path) == ["run"]


def test_the_tour_claims_both_runs_first_and_a_signal_says_what_is_complete(tmp_path, vae_result, ring_result,
                                                                           terminal, monkeypatch, capsys):
    out = tmp_path / "tour"
    monkeypatch.setattr("genlearn.cli.fit", lambda kind, *a, **k: vae_result if kind == "vae" else ring_result)
    assert cli(capsys, "tour", "--quiet", "--out", out) == (0, [])
    assert sorted(os.listdir(out)) == ["gan_ring", "vae_digits"] and len(files(out / "gan_ring")) == 4
    (out / "gan_ring" / "notes.txt").write_text("mine")  # refused before any training
    monkeypatch.setattr("genlearn.cli.fit", lambda *a, **k: pytest.fail("trained although gan_ring was refused"))
    code, lines = cli(capsys, "tour", "--quiet", "--out", out)
    assert code == 2 and len(lines) == 1 and "gan_ring holds files that are not a genlearn run (notes.txt" in lines[0]
    (out / "gan_ring" / "notes.txt").unlink()

    def gan_interrupted(kind, *args, **kwargs):
        if kind == "gan":
            signal.raise_signal(signal.SIGTERM)
        return vae_result

    monkeypatch.setattr("genlearn.cli.fit", gan_interrupted)
    code, lines = cli(capsys, "tour", "--quiet", "--out", out)
    assert code == 143 and lines == [f"genlearn: interrupted; the VAE's run is complete in {out / 'vae_digits'}, "
                                     "the GAN's was not written"]
    assert sorted(os.listdir(out)) == ["gan_ring", "vae_digits"]  # the earlier GAN run stays
    assert json.loads((out / "vae_digits" / "metrics.json").read_text())["model"] == "vae"
