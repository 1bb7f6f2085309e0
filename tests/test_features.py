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


def count_training(monkeypatch):
    trained = []
    real = features._train
    monkeypatch.setattr(features, "_train", lambda kind, seed=0: trained.append(kind) or real(kind, seed))
    return trained


def test_a_valid_but_wrong_cache_is_rebuilt_not_trusted(tmp_path, monkeypatch):
    """An untrained network saved with a correct checksum: its features would score uniform
    noise as close to digits; the held-out accuracy check catches it."""
    monkeypatch.setenv("GENLEARN_CACHE", str(tmp_path))
    features.feature_extractor.cache_clear()
    path = features._cache_file("digits")
    torch.manual_seed(0)
    wrong = features.FeatureNet("digits").state_dict()
    torch.save({"state_dict": wrong, "sha256": features.weights_digest(wrong)}, path)
    trained = count_training(monkeypatch)
    net = features.feature_extractor("digits")
    assert trained == ["digits"] and features.held_out_accuracy(net) > 0.9
    payload = torch.load(path, weights_only=True)
    assert payload["sha256"] == features.weights_digest(payload["state_dict"]) != features.weights_digest(wrong)
    real = digits("train", binarize=False).x
    noise = features.image_scores(real, torch.rand(360, 1, 8, 8))
    assert noise["frechet_distance"] > 1 and noise["precision"] < 0.5


def test_a_cache_whose_weights_changed_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLEARN_CACHE", str(tmp_path))
    features.feature_extractor.cache_clear()
    features.feature_extractor("digits")
    path = features._cache_file("digits")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["head.bias"][0] += 1.0  # one flipped weight: still accurate, but not what was saved
    torch.save(payload, path)
    features.feature_extractor.cache_clear()
    trained = count_training(monkeypatch)
    features.feature_extractor("digits")
    assert trained == ["digits"]
    features.feature_extractor.cache_clear()  # the rebuilt cache verifies: no third training
    features.feature_extractor("digits")
    assert trained == ["digits"]


def test_a_full_disk_costs_only_the_retraining(tmpfs, monkeypatch):
    disk = tmpfs("cache", "16k")  # smaller than the network (about 70 kB)
    monkeypatch.setenv("GENLEARN_CACHE", str(disk))
    features.feature_extractor.cache_clear()
    x = digits("test").x[:50]
    assert features.extract(x).shape == (50, features.FEATURE_DIM)
    assert list(disk.iterdir()) == []  # no cache, and no partial temporary file
