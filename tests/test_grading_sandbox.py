"""genlearn.grading.sandbox: settings, the command it builds, and what it isolates (Linux + bwrap)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from genlearn.grading.sandbox import ALLOW_SETTING, Sandbox, SandboxKernelManager, SandboxUnavailable, parse_size


@pytest.mark.parametrize("text, value", [("2G", 2 * 2**30), ("512M", 512 * 2**20), ("64mb", 64 * 2**20),
                                         ("1.5g", int(1.5 * 2**30)), ("4096", 4096), (123, 123)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["two gigs", "-1G", "0", "", "1X"])
def test_parse_size_says_what_it_expected(text):
    with pytest.raises(ValueError, match="expected a"):
        parse_size(text, "Sandbox.memory_limit")


def test_missing_bwrap_refuses_with_one_line_naming_the_setting():
    sb = Sandbox(bwrap="genlearn-no-such-bwrap")
    assert "not installed" in sb.unavailable_reason()
    with pytest.raises(SandboxUnavailable) as info:
        sb.check()
    message = str(info.value)
    assert "\n" not in message and ALLOW_SETTING in message and "genlearn-no-such-bwrap" in message
    assert Sandbox(bwrap="genlearn-no-such-bwrap", allow_unsandboxed=True).check() is False


def test_command_mounts_little_and_limits_much(tmp_path):
    sb = Sandbox(memory_limit="1G", cpu_seconds=60, max_processes=32, max_file_size="8M")
    cmd = sb.command(["python", "-m", "ipykernel_launcher"], workdir="/course/autograded/s/a",
                     scratch=str(tmp_path), ipc_dir="/tmp/glsbx-x/ipc", uid=61001, env={"HOME": "/x"})
    line = " ".join(cmd)
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--clearenv", "--as=1073741824",
                 "--cpu=60", "--nproc=32", "--fsize=8388608", "--reuid=61001", "--no-new-privs"):
        assert flag in line, flag
    binds = [(cmd[i + 1], cmd[i + 2]) for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind")]
    writable = [dest for kind, (src, dest) in zip((a for a in cmd if a in ("--bind", "--ro-bind")), binds)
                if kind == "--bind"]
    assert sorted(writable) == ["/course/autograded/s/a", "/tmp/glsbx-x/ipc"]
    assert ("/", "/") not in binds and not any(dest.startswith("/course") and dest != "/course/autograded/s/a"
                                               for _, dest in binds)
    assert cmd[-3:] == ["python", "-m", "ipykernel_launcher"]


needs_sandbox = pytest.mark.skipif(Sandbox().unavailable_reason() is not None,
                                   reason=f"no sandbox here: {Sandbox().unavailable_reason()}")


@needs_sandbox
def test_a_sandboxed_kernel_sees_and_reaches_nothing(tmp_path):
    """A real kernel: its identity, files, network and limits, and nothing left when it ends."""
    private = tmp_path / "private"
    private.mkdir()
    (private / "hidden.txt").write_text("secret")
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("given")
    code = f"""
import os, socket, resource
print('uid', os.getuid())
print('data', open('data.txt').read())
for p in ({str(private / 'hidden.txt')!r}, {sys.prefix + '/pyvenv.cfg'!r}):
    try:
        open(p).read(); print('read', p)
    except OSError as e:
        print('cannot read', p, type(e).__name__)
try:
    socket.create_connection(('127.0.0.1', 22), timeout=2); print('NETWORK')
except OSError as e:
    print('no network', type(e).__name__)
open('written.txt', 'w').write('x')
print('AS', resource.getrlimit(resource.RLIMIT_AS)[0])
import subprocess, sys
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)  # sandbox-test-sleeper'], start_new_session=True)
"""

    async def run():
        km = SandboxKernelManager(kernel_name="python3", sandbox=Sandbox(memory_limit="1500M"))
        await km.start_kernel(cwd=str(work))
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        out = []
        await kc.execute_interactive(code, timeout=60,
                                     output_hook=lambda m: out.append(m["content"].get("text", "")))
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        await km.cleanup_resources()
        return "".join(out), km

    # A loop of its own in a thread of its own: the test must not depend on no other test
    # (Playwright's sync API, say) having an event loop running in this thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        text, km = pool.submit(asyncio.run, run()).result()
    if os.geteuid() == 0:
        assert f"uid {km.sandbox.uid_base}" in text or "uid 6" in text
        assert "uid 0" not in text
    assert "data given" in text
    assert "cannot read " + str(private / "hidden.txt") in text
    assert "no network" in text and "NETWORK" not in text
    assert f"AS {1500 * 2**20}" in text
    assert not (work / "written.txt").exists(), "the kernel's writes reached the real folder"
    assert not Path(km.base_dir).exists()
    assert _processes_with(b"sandbox-test-sleeper") == [], "a process outlived its sandbox"


def _processes_with(marker: bytes) -> list[str]:
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and marker in (p / "cmdline").read_bytes():
                found.append(p.name)
        except OSError:
            pass  # gone meanwhile
    return found


def test_only_regular_files_within_the_budget_are_copied_into_a_sandbox(tmp_path):
    """Links (to secrets, to the gradebook), FIFOs, a 1 GiB sparse file and whatever passes the
    total budget stay out; what is copied is the submission's own bytes."""
    from genlearn.grading.sandbox import copy_regular_files

    src, dest = tmp_path / "sub", tmp_path / "copy"
    (src / "data").mkdir(parents=True)
    (src / "notes.txt").write_text("mine")
    (src / "data" / "a.csv").write_bytes(b"x" * 1000)
    (src / "data" / "b.csv").write_bytes(b"y" * 1000)
    (src / "shadow").symlink_to("/etc/shadow")
    (src / "dirlink").symlink_to("/etc")
    os.mkfifo(src / "pipe")
    with open(src / "big.bin", "wb") as f:
        f.truncate(2**30)
    refused = copy_regular_files(str(src), str(dest), max_file=10_000, max_total=1_500)
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["a.csv", "notes.txt"]
    assert (dest / "notes.txt").read_text() == "mine" and not any(p.is_symlink() for p in dest.rglob("*"))
    why = {line.split(":")[0]: line for line in refused}
    assert set(why) == {"shadow", "dirlink", "pipe", "big.bin", os.path.join("data", "b.csv")}, refused
    assert "link" in why["shadow"] and "regular" in why["pipe"] and "limit per file" in why["big.bin"]
    assert "in all" in why[os.path.join("data", "b.csv")]


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are leased only as root")
def test_a_second_dispose_never_kills_the_next_holder_of_the_uid():
    """A kernel manager disposed twice (jupyter_client's shutdown cleans up, and so may its
    caller) must not kill the processes of a uid it gave back: the next kernel leased it, in
    this grader or a grader beside it. (Both kernels of a submission died this way in CI when
    two graders ran at once.)"""
    import subprocess

    from genlearn.grading.sandbox import UidLease

    km = SandboxKernelManager(kernel_name="python3", sandbox=Sandbox())
    uid = km.uid
    km.dispose()
    lease = UidLease(uid, 1)  # the uid, given back, leased again by someone else
    assert lease.uid == uid
    other = subprocess.Popen(["sleep", "30"], user=uid, group=uid)
    try:
        km.dispose()
        time.sleep(0.2)
        assert other.poll() is None, "the second dispose killed another kernel's process"
    finally:
        other.kill()
        other.wait()
        lease.release()
