import warnings

import pytest
import torch

from genlearn import device as dev


@pytest.fixture(autouse=True)
def _fresh(fresh_threads):
    yield


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


# -- the thread policy ----------------------------------------------------------------------

@pytest.mark.parametrize("quota, busy, threads", [
    (1, 0.0, 1), (1, 1.0, 1), (1, None, 1),
    (2, 0.0, 2), (2, 0.45, 2), (2, None, 2),       # idle, or noise below the margin: both cores
    (2, 0.6, 1), (2, 1.0, 1), (2, 2.0, 1),         # a busy process: one thread, never zero
    (3, 0.0, 2), (4, 0.0, 3), (8, 0.0, 7),         # one CPU left for JupyterLab and the browser
    (4, 1.0, 2), (4, 2.0, 1), (4, 3.5, 1), (8, 1.1, 6), (8, 1.6, 5),
])
def test_policy_gives_one_thread_per_free_cpu(quota, busy, threads):
    choice = dev.choose_threads(quota, busy)
    assert choice.threads == threads, f"quota {quota}, {busy} CPUs busy: {choice}"
    assert f"CPU quota {quota}" in choice.reason


def test_policy_says_why():
    assert "other work 0.05 CPUs (under 0.5): all of it" in dev.choose_threads(2, 0.05).reason
    busy = dev.choose_threads(2, 1.0).reason
    assert "1.0 CPUs busy" in busy and "one thread fewer" in busy
    assert "left for JupyterLab" in dev.choose_threads(4, 0.0).reason
    assert "unknown" in dev.choose_threads(2, None).reason
    with pytest.raises(ValueError, match="quota must be >= 1"):
        dev.choose_threads(0, 0.0)


def _stat(ticks: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat with (busy, idle) ticks per CPU, busy split over user and system."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, (busy, idle) in ticks.items():
        lines.append(f"cpu{cpu} {busy - busy // 3} 0 {busy // 3} {idle} 0 0 0 0 0 0")
    return "\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n"


@pytest.fixture
def fake_clock(monkeypatch):
    """time.monotonic and time.process_time that only move when the fake sleep is called."""
    clock = {"wall": 100.0, "cpu": 5.0, "own_share": 0.0}
    monkeypatch.setattr(dev.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(dev.time, "process_time", lambda: clock["cpu"])
    return clock


def test_busy_cpus_counts_other_processes_on_our_cpus(tmp_path, fake_clock):
    stat = tmp_path / "stat"
    stat.write_text(_stat({0: (1000, 5000), 1: (2000, 4000)}))

    def sleep(seconds):  # over the sample: cpu0 half busy, cpu1 fully busy
        stat.write_text(_stat({0: (1005, 5005), 1: (2010, 4000)}))
        fake_clock["wall"] += seconds
        fake_clock["cpu"] += fake_clock["own_share"] * seconds

    assert dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=tmp_path, cpus={0, 1}, sleep=sleep) == pytest.approx(1.5)
    stat.write_text(_stat({0: (1000, 5000), 1: (2000, 4000)}))
    assert dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=tmp_path, cpus={1}, sleep=sleep) == pytest.approx(1.0)
    stat.write_text(_stat({0: (1000, 5000), 1: (2000, 4000)}))
    fake_clock["own_share"] = 0.5  # half of that was this process (e.g. a spinning OpenMP thread)
    assert dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=tmp_path, cpus={0, 1}, sleep=sleep) == pytest.approx(1.0)


def test_busy_cpus_unknown_without_proc_stat(tmp_path):
    assert dev.busy_cpus(0.0, proc_stat=tmp_path / "missing", sleep=lambda s: None) is None


def test_busy_cpus_measures_a_real_busy_process():
    """A Python busy loop on one of our CPUs shows up as about one busy CPU."""
    import subprocess
    import sys

    cpus = sorted(dev.os.sched_getaffinity(0))
    before = dev.busy_cpus(0.3)
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        during = dev.busy_cpus(0.5)
    finally:
        proc.kill()
        proc.wait()
    assert during is not None and before is not None
    # Other people's processes may add load, but a busy loop can never show as less than ~1 CPU
    # (unless the machine is so loaded that it only got part of one, which `before` would show).
    assert during >= min(0.8, len(cpus) - before - 0.2), f"busy loop measured as {during:.2f} CPUs"


def fake_machine(monkeypatch, quota: int, busy: float | None):
    """A machine with ``quota`` CPUs and ``busy`` CPUs of other work; returns the sample count."""
    calls = []
    monkeypatch.setattr(dev, "cpu_quota", lambda *a, **k: quota)
    monkeypatch.setattr(dev.os, "cpu_count", lambda: max(quota, 2))

    def sample(*args, **kwargs):
        calls.append(1)
        return busy
    monkeypatch.setattr(dev, "busy_cpus", sample)
    return calls


def test_threads_follow_quota_and_load_when_a_run_starts(monkeypatch):
    fake(monkeypatch)
    fake_machine(monkeypatch, 2, 1.0)
    assert dev.get_device().type == "cpu"
    assert torch.get_num_threads() == 1 and dev.thread_choice().threads == 1
    assert "busy" in dev.thread_choice().reason
    # the next run starts after the other process ended: both cores again
    fake_machine(monkeypatch, 2, 0.0)
    monkeypatch.setattr(dev._threads, "time", float("-inf"))  # the last decision is old
    assert dev.configure_threads() == 2 and torch.get_num_threads() == 2


def test_training_loop_applies_the_policy(monkeypatch):
    from genlearn.models import VAE
    from genlearn.train import train_vae

    fake(monkeypatch)
    torch.set_num_threads(2)
    calls = fake_machine(monkeypatch, 2, 1.2)
    model = VAE(x_shape=(2,), arch="mlp", latent_dim=2, hidden=(8,), likelihood="gaussian")
    train_vae(model, torch.randn(64, 2), epochs=1, batch_size=32, progress=False)
    assert calls and torch.get_num_threads() == 1


def test_decision_is_reused_briefly(monkeypatch):
    calls = fake_machine(monkeypatch, 2, 0.0)
    for _ in range(5):
        assert dev.configure_threads() == 2
    assert len(calls) == 1, "get_device in a loop must not sample the load every time"
    monkeypatch.setattr(dev._threads, "time", dev.time.monotonic() - dev.DECISION_TTL_S)
    dev.configure_threads()
    assert len(calls) == 2


def test_quota_of_one_from_affinity_means_one_thread(monkeypatch, tmp_path):
    monkeypatch.setattr(dev.os, "sched_getaffinity", lambda pid: {0})
    assert dev.cpu_quota(tmp_path) == 1
    monkeypatch.setattr(dev, "busy_cpus", lambda *a, **k: 0.0)
    assert dev.configure_threads() == 1 and "CPU quota 1" in dev.thread_choice().reason


def test_env_override_beats_the_policy(monkeypatch):
    fake_machine(monkeypatch, 2, 2.0)
    monkeypatch.setattr(dev, "busy_cpus", lambda *a, **k: pytest.fail("an override needs no load sample"))
    monkeypatch.setenv(dev.ENV_THREADS, "2")
    assert dev.configure_threads() == 2 and torch.get_num_threads() == 2
    assert dev.ENV_THREADS in dev.thread_choice().reason


@pytest.mark.parametrize("value", ["100000", "0", "-1", "lots", "1.5"])
def test_nonsense_env_warns_with_the_range_and_chooses_automatically(monkeypatch, value):
    fake_machine(monkeypatch, 2, 1.0)
    monkeypatch.setenv(dev.ENV_THREADS, value)
    with pytest.warns(RuntimeWarning, match=rf"ignoring {dev.ENV_THREADS}='{value}': expected an integer from 1 to 2"):
        assert dev.configure_threads() == 1
    assert "busy" in dev.thread_choice().reason  # the automatic choice, not the value


def test_explicit_count_pins_and_user_setting_is_left_alone(monkeypatch):
    calls = fake_machine(monkeypatch, 2, 0.0)
    with pytest.raises(ValueError, match="integer >= 1"):
        dev.configure_threads(0)
    assert dev.configure_threads(1) == 1
    monkeypatch.setattr(dev._threads, "time", float("-inf"))
    assert dev.configure_threads() == 1 and not calls
    # a user's own torch.set_num_threads after genlearn chose is kept, and said so
    monkeypatch.setattr(dev._threads, "pinned", False)
    monkeypatch.setattr(dev._threads, "choice", None)
    assert dev.configure_threads() == 2
    torch.set_num_threads(1)
    monkeypatch.setattr(dev._threads, "time", float("-inf"))
    assert dev.configure_threads() == 1 and torch.get_num_threads() == 1
    assert "outside genlearn" in dev.thread_choice().reason


def test_describe_says_how_many_threads_and_why(monkeypatch):
    fake(monkeypatch)
    fake_machine(monkeypatch, 2, 1.0)
    text = dev.describe()
    assert "CPU threads: 1 thread (CPU quota 2; 1.0 CPUs busy" in text and dev.ENV_THREADS in text


def test_busy_cpus_in_a_container_counts_the_container_not_the_host(tmp_path, fake_clock):
    """Binder: a 2-CPU quota on a 64-core host that other tenants keep 60% busy."""
    host = {c: (1000, 1000) for c in range(64)}
    stat, cgroup = tmp_path / "stat", tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "cpu.max").write_text("200000 100000\n")
    stat.write_text(_stat(host))
    (cgroup / "cpu.stat").write_text("usage_usec 5000000\nuser_usec 4000000\n")
    container_use = {"cpus": 0.0}

    def sleep(seconds):
        stat.write_text(_stat({c: (1000 + 6, 1000 + 4) for c in range(64)}))  # 60% busy each
        used = 5_000_000 + int(container_use["cpus"] * seconds * 1e6)
        (cgroup / "cpu.stat").write_text(f"usage_usec {used}\nuser_usec 0\n")
        fake_clock["wall"] += seconds

    cpus = set(range(64))
    idle = dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=cgroup, cpus=cpus, sleep=sleep)
    assert idle == pytest.approx(0.0), "other tenants of the host are not this container's load"
    container_use["cpus"] = 1.0  # a second kernel in the same container
    stat.write_text(_stat(host))
    (cgroup / "cpu.stat").write_text("usage_usec 5000000\n")
    assert dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=cgroup, cpus=cpus, sleep=sleep) == pytest.approx(1.0)
    # without a quota the same host counts in full
    (cgroup / "cpu.max").write_text("max 100000\n")
    stat.write_text(_stat(host))
    assert dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=cgroup, cpus=cpus, sleep=sleep) == pytest.approx(38.4)


def test_busy_cpus_in_a_container_on_a_saturated_host(tmp_path, fake_clock):
    """A 2-CPU quota on a 4-core host whose CPUs are all busy: the host's load counts."""
    stat, cgroup = tmp_path / "stat", tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "cpu").mkdir()
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text("200000")
    (cgroup / "cpu" / "cpu.cfs_period_us").write_text("100000")
    (cgroup / "cpuacct").mkdir()
    (cgroup / "cpuacct" / "cpuacct.usage").write_text("0")
    stat.write_text(_stat({c: (0, 0) for c in range(4)}))

    def sleep(seconds):
        stat.write_text(_stat({c: (10, 0) for c in range(4)}))  # every host CPU fully busy
        fake_clock["wall"] += seconds

    assert dev.busy_cpus(0.1, proc_stat=stat, cgroup_root=cgroup, cpus=set(range(4)), sleep=sleep) == pytest.approx(2.0)


def test_choosing_threads_rebinds_no_module_global(fresh_threads, monkeypatch):
    # grading's guard reports any genlearn global that changes while a notebook runs: a graded
    # notebook that loads a model (and so decides the threads) must not look like tampering
    fake_machine(monkeypatch, 2, 0.0)
    before = dict(vars(fresh_threads))
    fresh_threads.configure_threads()
    monkeypatch.setattr(fresh_threads._threads, "time", float("-inf"))
    fresh_threads.configure_threads()
    fresh_threads.get_device("cpu")
    changed = [k for k, v in vars(fresh_threads).items() if before.get(k) is not v]
    assert not changed, f"configure_threads rebound {changed}"
    assert fresh_threads.thread_choice() is not None
