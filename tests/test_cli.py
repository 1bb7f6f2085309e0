import json
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
    monkeypatch.setattr(dev, "_choice_time", float("-inf"))
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
