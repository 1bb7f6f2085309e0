"""CONTRIBUTING.md's "Add a model kind", followed literally: in a copy of the repository (its
tracked files), a tiny new kind is written to the interface the section states, registered
with the lines the section gives, and the tests the section names are run there as the
contributor would run them. They must pass and cover the new kind; a step left out (the
registration) or an interface broken (a bare-tensor loss) must fail them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A kind keeping the interface of CONTRIBUTING.md's table, nothing more: a diagonal Gaussian.
TINY = r'''r"""A diagonal Gaussian, the smallest model kind:

.. math:: -\log p(x) = \sum_i \tfrac12 \big((x_i - \mu_i) / \sigma_i\big)^2 + \log \sigma_i + \tfrac12 \log 2\pi
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .._checks import check_batch, check_positive_int, check_size, resolve_config
from .blocks import unconditional


@dataclass
class TinyConfig:
    x_dim: int = 2

    def __post_init__(self):
        self.x_dim = check_size("x_dim", self.x_dim)

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.x_dim,)


class Tiny(nn.Module):
    def __init__(self, config: TinyConfig | None = None, **overrides):
        super().__init__()
        self.config = cfg = resolve_config(TinyConfig, config, overrides)
        self.mu = nn.Parameter(torch.zeros(cfg.x_dim))          # (D,)
        self.log_sigma = nn.Parameter(torch.zeros(cfg.x_dim))   # (D,)

    @property
    def device(self) -> torch.device:
        return self.mu.device

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        unconditional(y)
        x = check_batch("x", x, self.config.x_shape)
        z = (x - self.mu) / self.log_sigma.exp()                # (B, D)
        nll = (0.5 * z.square() + self.log_sigma + 0.5 * math.log(2 * math.pi)).sum(1).mean()
        return RESULT

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, *, generator=None) -> torch.Tensor:
        n = check_positive_int("n", n)
        unconditional(y)
        eps = torch.randn(n, self.config.x_dim, generator=generator, device=self.device)
        return self.mu + self.log_sigma.exp() * eps
'''
KEEPS_INTERFACE = 'nll, {"nll": nll.detach()}'
BARE_TENSOR = "nll"


def section() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    start = text.index("## Add a model kind")
    return text[start:text.index("\n## ", start + 1)]


def named(template: str) -> str:
    return template.replace("<name>", "tiny").replace("<Name>", "Tiny")


def checklist() -> tuple[str, str, list[str]]:
    """The section's import line, registry entry and test command, for the kind ``tiny``."""
    doc = section()
    (import_line,) = re.findall(r"`(from \.<name> import [^`]+)`", doc)
    (entry,) = re.findall(r"`(ModelKind\(\"<name>\"[^`]+)`", doc)
    (command,) = re.findall(r"```bash\n\s*(pytest [^\n]+)\n", doc)
    return named(import_line), named(entry), shlex.split(command)


def copy_of_repository(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def add_tiny_kind(repo: Path, *, register: bool, result: str) -> None:
    """Steps 1 and 2 of the checklist, with its own lines (step 2 left out unless ``register``)."""
    (repo / "genlearn/models/tiny.py").write_text(TINY.replace("RESULT", result))
    if not register:
        return
    import_line, entry, _ = checklist()
    init = repo / "genlearn/models/__init__.py"
    text = init.read_text()
    text = text.replace("\n\n@dataclass", f"\n{import_line}\n\n\n@dataclass", 1)
    text = text.replace("\n)}\n", f"\n    {entry}\n)}}\n", 1)
    text = text.replace("__all__ = [", '__all__ = [\n    "Tiny", "TinyConfig",', 1)
    init.write_text(text)


def run_named_tests(repo: Path, *extra: str) -> subprocess.CompletedProcess:
    _, _, command = checklist()
    assert command[0] == "pytest"
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, "-m", *command, "-p", "no:cacheprovider", *extra], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture
def repo(tmp_path) -> Path:
    return copy_of_repository(tmp_path / "repo")


@pytest.mark.slow
def test_following_the_checklist_adds_a_kind_that_every_named_test_covers(repo):
    add_tiny_kind(repo, register=True, result=KEEPS_INTERFACE)
    run = run_named_tests(repo)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    collected = run_named_tests(repo, "--collect-only", "-v").stdout  # (-q -v: the tree of test ids)
    covered = [line.strip() for line in collected.splitlines() if "[tiny]" in line]
    assert len(covered) >= 6, f"the named tests do not cover the new kind:\n{collected[-3000:]}"
    for check in ("on_the_meta_device", "a_dict_of_its_parts", "same_signatures", "round_trips_through_a_checkpoint"):
        assert any(check in line for line in covered), f"no {check} test for the new kind: {covered}"


@pytest.mark.slow
@pytest.mark.parametrize("register, result, message", [
    (False, KEEPS_INTERFACE, "TinyConfig in genlearn/models/ belong(s) to no kind in MODEL_KINDS"),  # left out
    (True, BARE_TENSOR, "tiny: loss must return (loss, parts)"),  # breaks the interface
], ids=["left-out-of-the-registry", "breaks-the-interface"])
def test_a_kind_done_wrong_fails_the_named_tests(repo, register, result, message):
    add_tiny_kind(repo, register=register, result=result)
    run = run_named_tests(repo, "-x")
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    assert message in run.stdout
