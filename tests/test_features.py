import pytest
import torch

from genlearn import features
from genlearn.data import digits, sprites


def test_digit_features_are_deterministic_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLEARN_CACHE", str(tmp_path))
    features.feature_extractor.cache_clear()
    x = digits("test").x[:20]
    a = features.extract(x)
    assert a.shape == (20, features.FEATURE_DIM)
    assert list(tmp_path.glob("features-digits-*.pt"))
    features.feature_extractor.cache_clear()  # now read back from disk
    assert torch.allclose(features.extract(x), a)
    # and trained afresh gives the same network
    for f in tmp_path.glob("*.pt"):
        f.unlink()
    features.feature_extractor.cache_clear()
    assert torch.allclose(features.extract(x), a, atol=1e-5)


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLEARN_CACHE", str(tmp_path))
    features.feature_extractor.cache_clear()
    features.extract(digits("test").x[:2])
    (cached,) = tmp_path.glob("features-digits-*.pt")
    cached.write_bytes(b"garbage")
    features.feature_extractor.cache_clear()
    assert features.extract(digits("test").x[:2]).shape == (2, features.FEATURE_DIM)


def test_the_classifier_behind_the_features_is_accurate():
    net = features.feature_extractor("digits")
    test = digits("test", binarize=False)
    acc = (net(test.x).argmax(1) == test.y).float().mean()
    assert acc > 0.9


def test_scores_rank_real_above_noise_and_collapse():
    real, other = digits("train", binarize=False), digits("test", binarize=False)
    good = features.image_scores(real.x, other.x)
    noise = features.image_scores(real.x, torch.rand(360, 1, 8, 8))
    ones = features.image_scores(real.x, other.x[other.y == 1])
    # held-out real digits are close; a collapsed generator (only 1s) and noise are far
    assert good["frechet_distance"] < 0.1 * min(ones["frechet_distance"], noise["frechet_distance"])
    # collapse keeps fidelity but loses coverage; noise loses both
    assert ones["precision"] > 0.7 and ones["recall"] < 0.4 < good["recall"]
    assert noise["precision"] < 0.5 < good["precision"]


def test_upsampled_digits_share_the_feature_space():
    x8 = digits("test", binarize=False).x[:50]
    x16 = digits("test", binarize=False, size=16).x[:50]
    assert features.frechet_distance(features.extract(x8), features.extract(x16)) < \
        features.frechet_distance(features.extract(x8), features.extract(torch.rand(50, 1, 16, 16)))


@pytest.mark.slow
def test_sprite_features_tell_shapes_apart():
    net = features.feature_extractor("sprites")
    s = sprites(600, seed=99)
    assert (net(s.x).argmax(1) == s.y).float().mean() > 0.9
