"""The watermark of lesson 14: a keyed +-1 pattern added faintly, found by a z-score that is
about standard normal without the mark and large with it."""

import pytest
import torch
import torch.nn.functional as F

from genlearn.data import digits
from genlearn.ethics import embed_watermark, watermark_pattern, watermark_score


@pytest.fixture(scope="module")
def images():
    return digits("test", binarize=False, size=16).x[:200]      # smooth grey images in [0, 1]


def test_the_pattern_is_plus_or_minus_one_and_fixed_by_the_key():
    a, b, c = watermark_pattern((1, 16, 16), 5), watermark_pattern((1, 16, 16), 5), watermark_pattern((1, 16, 16), 6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {-1.0, 1.0} and abs(float(a.mean())) < 0.2
    for bad in ((16, 16), (1, 0, 16), (1, 16.0, 16)):
        with pytest.raises(ValueError, match="shape must be"):
            watermark_pattern(bad, 5)


def test_the_mark_is_faint_kept_in_range_and_whole_on_black_and_white(images):
    marked = embed_watermark(images, 5, 0.03)
    assert float(marked.min()) >= 0 and float(marked.max()) <= 1
    assert float((marked - images).abs().max()) <= 0.06 + 1e-6
    assert torch.equal(embed_watermark(images, 5, 0.0), images)
    p = watermark_pattern((1, 16, 16), 5)
    for level in (0.0, 1.0):   # a plain clip(x + d p) would lose the half of p pushing past 0 or 1
        flat = torch.full((1, 1, 16, 16), level)
        mark = embed_watermark(flat, 5, 0.03) - embed_watermark(flat, 5, 0.0) * (1 - 0.06) - 0.03
        assert torch.allclose(mark[0], 0.03 * p, atol=1e-6)


def test_unmarked_images_score_about_standard_normal_and_marked_ones_far_above(images):
    unmarked = torch.cat([watermark_score(images, key) for key in range(20)])
    assert abs(float(unmarked.mean())) < 0.1 and 0.85 < float(unmarked.std()) < 1.15
    assert float((unmarked > 4).float().mean()) < 0.002
    marked = embed_watermark(images, 7, 0.05)
    z = watermark_score(marked, 7)
    assert float((z > 4).float().mean()) > 0.95
    assert float((watermark_score(marked, 8) > 4).float().mean()) < 0.01, "another key finds nothing"
    blurred = F.avg_pool2d(F.pad(marked, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert float(watermark_score(blurred, 7).median()) < 0.5 * float(z.median()), "a blur removes most of the detail"


def test_watermark_inputs_are_checked(images):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        embed_watermark(images * 2, 1)
    with pytest.raises(ValueError, match="strength"):
        embed_watermark(images, 1, 0.6)
    with pytest.raises(ValueError, match=r"images \(N, C, H, W\)"):
        watermark_score(images[0], 1)
