"""scikit-learn's embedded 8x8 handwritten digits (1,797 images): no download, ever.

Pixels meet the likelihood like this. The raw pixels are grey levels 0..16. A Bernoulli
likelihood is a real likelihood only for binary data, so by default the images are
binarized once, deterministically, at half intensity (``x = pixel >= 8``): the negative
ELBO we report is then a true bound on ``-log p(x)`` in nats per image. (Training a
Bernoulli decoder on grey levels gives a number that is not a likelihood: its floor is the
grey pixels' own entropy.) ``binarize=False`` returns grey levels scaled to [0, 1], for
Gaussian likelihoods and GANs.

The train/test split is fixed: 20% test, stratified by label, ``random_state=0``, so
every lesson, exercise and benchmark reports numbers on the same 360 test images.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .._checks import check_choice
from .base import ImageDataset

DIGIT_NAMES = tuple(str(i) for i in range(10))
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@lru_cache(maxsize=1)
def _split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    idx = torch.arange(len(bunch.target)).numpy()
    train_idx, test_idx = train_test_split(
        idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=bunch.target
    )
    images = torch.tensor(bunch.images, dtype=torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    labels = torch.tensor(bunch.target, dtype=torch.long)
    return images, labels, {"train": train_idx, "test": test_idx, "all": idx}


def digits(split: str = "train", *, binarize: bool = True, size: int = 8) -> ImageDataset:
    """The digits as (N, 1, size, size) images in [0, 1] with labels 0-9.

    ``split``: ``"train"`` (1,437), ``"test"`` (360) or ``"all"`` (1,797).
    ``size``: 8 (native) or 16/32 (bilinear upsampling, for convolutional GANs).
    """
    check_choice("split", split, ("train", "test", "all"))
    check_choice("size", size, (8, 16, 32))
    images, labels, index = _split()
    idx = torch.as_tensor(index[split])
    x = images[idx].unsqueeze(1)  # (N, 1, 8, 8)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    if binarize:
        x = (x >= 0.5).float()
    return ImageDataset("digits", x.contiguous(), labels[idx].clone(), binarized=binarize,
                        class_names=DIGIT_NAMES)
