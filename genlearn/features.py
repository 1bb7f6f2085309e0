"""Feature spaces for comparing images: small classifiers trained on the embedded data.

FID compares Inception features of ImageNet photos; our images are 8x8 digits and 32x32
sprites, so we use the penultimate layer of a small classifier trained on the same data:
deterministic (seeded, a fixed number of steps), cached in memory and on disk
(``$GENLEARN_CACHE``, default ``~/.cache/genlearn``), trained in about a second on a CPU.

The digits classifier sees images average-pooled to 8x8, so 16x16 and 32x32 digits (from a
DCGAN) land in the same space; it is trained on grey and binarized digits alike, because
VAE means are grey and binarized samples are not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_choice
from .data import dataset_info, load
from .device import CPU
from .metrics import frechet_distance, precision_recall
from .train import train_classifier

FEATURE_DIM = 64
_VERSION = 2  # bump when the architecture or training changes: it renames the cache file


@dataclass(frozen=True)
class FeatureSpace:
    """What one feature space is made of. A dataset names its space in the dataset registry
    (``DatasetInfo.feature_space``); adding a space is one entry of :data:`FEATURE_SPACES`."""

    size: int                       # images are pooled (or upsampled) to size x size first
    body: Callable[[], nn.Module]   # (B, 1, size, size) -> (B, FEATURE_DIM)
    training_data: Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]
    n_classes: int                  # the classifier's labels
    n_targets: int = 0              # extra regression outputs trained beside the labels
    steps: int = 600                # Adam steps of batch 128


def _digits_data():
    """Grey and binarized training digits, labelled."""
    grey, binary = load("digits", "train", binarize=False), load("digits", "train")
    return torch.cat([grey.x, binary.x]), torch.cat([grey.y, binary.y]), None


def _sprites_data():
    """Sprites labelled by shape, with scale and position as regression targets (about [-1, 1]),
    so that the features (and the distances measured in them) see where and how big a sprite is."""
    data = load("sprites", n=8_000, seed=12345)  # a seed no dataset split uses
    f = data.factors
    targets = torch.stack([(f[:, 1] - 0.8) * 5, (f[:, 3] - 16) / 8, (f[:, 4] - 16) / 8], 1)
    return data.x, data.y, targets


FEATURE_SPACES: dict[str, FeatureSpace] = {
    "digits": FeatureSpace(
        size=8, n_classes=10, steps=600, training_data=_digits_data,
        body=lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(),
                                   nn.Linear(128, FEATURE_DIM), nn.ReLU())),
    "sprites": FeatureSpace(
        size=32, n_classes=3, n_targets=3, steps=1500, training_data=_sprites_data,
        body=lambda: nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(),   # (B, 16, 16, 16)
            nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),  # (B, 32, 8, 8)
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),  # (B, 32, 4, 4)
            nn.Flatten(), nn.Linear(512, FEATURE_DIM), nn.ReLU())),
}


def feature_space_of(dataset: str) -> str | None:
    """The feature space a registered dataset's images are scored in, or ``None``."""
    return dataset_info(dataset).feature_space


class FeatureNet(nn.Module):
    """images (B, 1, H, W) -> features (B, 64) -> class logits (B, n_classes) [+ targets]."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = check_choice("feature space", kind, tuple(FEATURE_SPACES))
        self.space = space = FEATURE_SPACES[kind]
        self.body = space.body()
        self.n_classes = space.n_classes
        self.head = nn.Linear(FEATURE_DIM, space.n_classes + space.n_targets)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"images must be (B, 1, H, W), got {tuple(x.shape)}")
        size = self.space.size
        if x.shape[-1] != size:
            x = F.adaptive_avg_pool2d(x, size) if x.shape[-1] > size else F.interpolate(x, size=size)
        return x.float()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes)."""
        return self.head(self.features(x))[:, :self.n_classes]


def _cache_file(kind: str) -> Path:
    root = Path(os.environ.get("GENLEARN_CACHE", Path.home() / ".cache" / "genlearn"))
    tag = hashlib.sha1(f"{kind}-{_VERSION}-{torch.__version__}".encode()).hexdigest()[:10]
    return root / f"features-{kind}-{tag}.pt"


def _train(kind: str, seed: int = 0) -> FeatureNet:
    x, y, targets = FEATURE_SPACES[kind].training_data()
    # fork_rng: training here must not disturb the caller's random stream
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = FeatureNet(kind)

        def batch_loss(idx):
            out = net.head(net.features(x[idx]))
            loss = F.cross_entropy(out[:, :net.n_classes], y[idx])
            if targets is not None:
                loss = loss + F.mse_loss(out[:, net.n_classes:], targets[idx])
            return loss

        train_classifier(net, len(x), batch_loss, steps=net.space.steps, batch_size=128, lr=2e-3,
                         generator=torch.Generator().manual_seed(seed))
    return net.eval()


@lru_cache(maxsize=None)
def feature_extractor(kind: str = "digits") -> FeatureNet:
    """The (cached) feature network of a space in :data:`FEATURE_SPACES` (``"digits"``,
    ``"sprites"``), on the CPU, in eval mode."""
    check_choice("feature space", kind, tuple(FEATURE_SPACES))
    path = _cache_file(kind)
    if path.is_file():
        try:
            net = FeatureNet(kind)
            net.load_state_dict(torch.load(path, map_location=CPU, weights_only=True))
            return net.eval().requires_grad_(False)
        except Exception:  # a stale or broken cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    net = _train(kind).requires_grad_(False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(net.state_dict(), tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the retraining
    return net


@torch.no_grad()
def extract(images: torch.Tensor, kind: str = "digits", batch_size: int = 1024) -> torch.Tensor:
    """(N, 1, H, W) images in [0, 1] -> (N, 64) features on the CPU."""
    net = feature_extractor(kind)
    images = images.detach().to(CPU)
    return torch.cat([net.features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def image_scores(real: torch.Tensor, fake: torch.Tensor, kind: str = "digits", k: int = 3) -> dict:
    """Frechet distance, precision and recall of ``fake`` against ``real`` in ``kind``'s feature space."""
    fr, ff = extract(real, kind), extract(fake, kind)
    return {"frechet_distance": frechet_distance(fr, ff), **precision_recall(fr, ff, k=k)}
