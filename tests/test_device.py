import warnings

import pytest
import torch

from genlearn import device as dev


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv(dev.ENV_DEVICE, raising=False)
    monkeypatch.delenv(dev.ENV_THREADS, raising=False)
    monkeypatch.setattr(dev, "_warned", set())
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def fake(monkeypatch, cuda=False, mps=False, count=1):
    monkeypatch.setattr(dev, "cuda_available", lambda: cuda)
    monkeypatch.setattr(dev, "mps_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count if cuda else 0)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    fake(monkeypatch, cuda=True, mps=True)
    assert dev.get_device().type == "cuda"
    fake(monkeypatch, cuda=False, mps=True)
    assert dev.get_device().type == "mps"
    fake(monkeypatch)
    choice = dev.choose_device()
    assert choice.device.type == "cpu" and "no GPU" in choice.reason


def test_explicit_beats_environment(monkeypatch):
    fake(monkeypatch, cuda=True)
    monkeypatch.setenv(dev.ENV_DEVICE, "cuda")
    choice = dev.choose_device("cpu")
    assert choice.device.type == "cpu" and "caller" in choice.reason


def test_environment_beats_auto(monkeypatch):
    fake(monkeypatch, cuda=True)
    monkeypatch.setenv(dev.ENV_DEVICE, "cpu")
    choice = dev.choose_device()
    assert choice.device.type == "cpu" and dev.ENV_DEVICE in choice.reason


def test_missing_device_warns_once_and_falls_back(monkeypatch):
    fake(monkeypatch)
    monkeypatch.setenv(dev.ENV_DEVICE, "cuda")
    with pytest.warns(RuntimeWarning, match="not available.*falling back to the CPU"):
        assert dev.get_device().type == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second ask must not warn again
        assert dev.get_device().type == "cpu"


def test_missing_cuda_index_falls_back(monkeypatch):
    fake(monkeypatch, cuda=True, count=1)
    with pytest.warns(RuntimeWarning, match="only 1 CUDA device"):
        assert dev.get_device("cuda:3").type == "cpu"


def test_garbage_env_warns_and_uses_cpu(monkeypatch):
    fake(monkeypatch, cuda=True)
    monkeypatch.setenv(dev.ENV_DEVICE, "tpu9")
    with pytest.warns(RuntimeWarning, match="ignoring"):
        assert dev.get_device().type == "cpu"


def test_garbage_argument_is_an_error():
    with pytest.raises(ValueError, match="unknown device"):
        dev.get_device("gpu-please")


def test_auto_word_means_automatic(monkeypatch):
    fake(monkeypatch)
    assert "automatic" in dev.choose_device("auto").reason


def test_cpu_quota_reads_cgroup_v2(tmp_path, monkeypatch):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(dev.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert dev.cpu_quota(tmp_path) == 2  # 1.5 CPUs round up; not the host's 64 cores


def test_cpu_quota_reads_cgroup_v1_and_unlimited(tmp_path, monkeypatch):
    monkeypatch.setattr(dev.os, "sched_getaffinity", lambda pid: set(range(8)))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert dev.cpu_quota(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000")
    assert dev.cpu_quota(tmp_path) == 8  # no quota: the affinity mask decides


def test_threads_follow_env_override(monkeypatch):
    monkeypatch.setattr(dev, "_threads_configured", False)
    monkeypatch.setenv(dev.ENV_THREADS, "1")
    assert dev.configure_threads() == 1 and torch.get_num_threads() == 1
    with pytest.raises(ValueError):
        dev.configure_threads(0)


def test_bad_thread_env_warns(monkeypatch):
    monkeypatch.setattr(dev, "_threads_configured", False)
    monkeypatch.setenv(dev.ENV_THREADS, "lots")
    with pytest.warns(RuntimeWarning, match="positive integer"):
        assert dev.configure_threads() == dev.cpu_quota()


def test_describe_names_version_device_and_reason(monkeypatch):
    fake(monkeypatch)
    text = dev.describe()
    assert torch.__version__ in text and "device: cpu" in text and "no GPU found" in text


def test_no_other_module_names_a_device_type(root):
    import re

    offenders = []
    for path in (root / "genlearn").rglob("*.py"):
        if path.name == "device.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"""["'](cuda|cpu|mps)(:\d+)?["']""", code):
                offenders.append(f"{path.name}:{i}: {line.strip()}")
    assert not offenders, "device names outside device.py:\n" + "\n".join(offenders)


def test_fused_adam_is_used_where_torch_has_it():
    from genlearn.device import has_fused_adam
    from genlearn.train import adam

    assert has_fused_adam(torch.device("cpu")) and not has_fused_adam(torch.device("mps"))
    w = torch.nn.Parameter(torch.ones(3))
    opt = adam([w], 0.1, (0.9, 0.999), torch.device("cpu"))
    assert opt.defaults["fused"] is True
    w.sum().backward()
    opt.step()
    assert torch.allclose(w.detach(), torch.full((3,), 0.9))  # Adam's first step moves by lr
