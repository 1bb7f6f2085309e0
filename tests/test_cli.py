import json
import os
import subprocess
import sys

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


def test_a_full_disk_costs_the_new_run_only(tmpfs, earlier_run, tmp_path, capsys):
    size = sum(map(len, earlier_run.values()))
    disk = tmpfs("disk", int(1.5 * size))  # room for one run, not for a second beside it
    out = disk / "run"
    assert cli(capsys, *GAN_RING, "--out", out) == (0, [])
    first = files(out)
    code, lines = cli(capsys, *GAN_RING, "--force", "--out", out)
    assert code == 1 and len(lines) == 1 and "No space left on device" in lines[0], lines
    assert files(out) == first and os.listdir(disk) == ["run"]


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


# ---------------------------------------------------------------- Ctrl-C and divergence

def ctrl_c_after(monkeypatch, steps):
    """Make ``genlearn train`` receive a real SIGINT once training has run ``steps`` steps."""
    import signal
    from genlearn import recipes

    def fit(*args, callbacks=(), **kwargs):
        def press(history):
            if history.steps >= steps:
                signal.raise_signal(signal.SIGINT)
        return recipes.fit(*args, callbacks=[press, *callbacks], **kwargs)

    monkeypatch.setattr("genlearn.cli.fit", fit)


def test_ctrl_c_gives_one_line_exit_130_and_writes_nothing(tmp_path, monkeypatch, capsys):
    ctrl_c_after(monkeypatch, 10)
    code, lines = cli(capsys, "train", "gan", "--data", "ring", "--steps", "500", "--quiet",
                      "--out", tmp_path / "run")
    assert code == 130 and lines == ["genlearn: interrupted; nothing written (--keep-interrupted keeps a partial run)"]
    assert os.listdir(tmp_path) == []


def test_ctrl_c_with_keep_interrupted_saves_the_partial_run_as_such(tmp_path, monkeypatch, capsys):
    ctrl_c_after(monkeypatch, 10)
    out = tmp_path / "run"
    code, lines = cli(capsys, "train", "gan", "--data", "ring", "--steps", "500", "--quiet",
                      "--keep-interrupted", "--out", out)
    assert code == 130 and lines[-1] == f"genlearn: interrupted after 100 steps; the partial run is in {out}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped"] == "interrupted" and metrics["steps"] == 100  # stopped at the first log point
    assert 0 <= metrics["modes_covered"] <= 8 and load_checkpoint(out / "model.pt")[1]["stopped"] == "interrupted"


@pytest.mark.slow
def test_ctrl_c_from_a_terminal(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "genlearn.cli", "train", "gan", "--data", "grid", "--steps",
                             "1000000", "--quiet", "--out", str(out)], stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # imports and the start of training
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [line for line in err.splitlines() if line.strip()] == [
        "genlearn: interrupted; nothing written (--keep-interrupted keeps a partial run)"]
    assert os.listdir(tmp_path) == []


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
