"""The application datasets of lesson 09: deterministic, well-formed, and showing what they claim."""

import numpy as np
import pytest
import torch

from genlearn.data.market import market, return_windows, simulate_returns, stylized_facts
from genlearn.data.melodies import N_PITCHES, SCALE_MIDI, melodies, to_pitches, to_roll
from genlearn.data.patterns import KINDS, patterns, render_patterns
from genlearn.data.phantoms import phantoms


@pytest.mark.parametrize("make", [lambda s: phantoms(64, s), lambda s: patterns(64, s), lambda s: melodies(64, s)],
                         ids=["phantoms", "patterns", "melodies"])
def test_image_datasets_are_deterministic_by_seed(make):
    a, b, c = make(1), make(1), make(2)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    assert a.x.dim() == 4 and len(a) == 64
    assert float(a.x.min()) >= 0 and float(a.x.max()) <= 1


def test_phantoms_have_a_head_and_lesions_where_labelled():
    data = phantoms(400, seed=0, size=32)
    assert data.shape == (1, 32, 32) and data.factor_names[0] == "lesion"
    x = data.x[:, 0]
    assert x[:, 0, 0].max() == 0, "corners are outside the head (air)"
    assert x[:, 12:20, 12:20].mean() > 0.15, "the centre is inside the head"
    assert 0.35 < data.y.float().mean() < 0.65
    # a lesion is a bright spot where its factors say it is
    sick = data.y == 1
    col = ((data.factors[sick, 3] + 1) / 2 * 32).long().clamp(0, 31)
    row = ((data.factors[sick, 4] + 1) / 2 * 32).long().clamp(0, 31)
    at_lesion = x[sick][torch.arange(int(sick.sum())), row, col]
    assert (at_lesion > 0.6).float().mean() > 0.8
    assert x[~sick][:, 12:20, 12:20].median() < 0.4
    assert torch.equal(data.factors[:, 0].long(), data.y)
    assert torch.all(data.factors[data.y == 0, 3:] == 0)


def test_phantoms_validate_arguments():
    with pytest.raises(ValueError, match="lesion_rate"):
        phantoms(10, lesion_rate=1.5)
    with pytest.raises(ValueError, match="size"):
        phantoms(10, size=4)
    assert phantoms(50, lesion_rate=0.0).y.sum() == 0


def test_patterns_follow_their_factors():
    data = patterns(200, seed=3, size=16)
    assert data.class_names == KINDS and data.factors.shape == (200, 5)
    assert torch.equal(data.factors[:, 0].long(), data.y)
    assert torch.allclose(render_patterns(data.factors[:5], 16), data.x[:5])
    # thickness is ink coverage: thicker patterns have more ink, for every kind
    f = data.factors.clone()
    f[:, 4] = 0.3
    thin = render_patterns(f, 16).mean()
    f[:, 4] = 0.7
    assert render_patterns(f, 16).mean() > thin + 0.15
    # stripes at angle 0 are constant along one image axis
    stripes = render_patterns(torch.tensor([[0.0, 2.0, 0.0, 0.1, 0.5]]), 16)[0, 0]
    assert torch.allclose(stripes, stripes[:1].expand(16, 16))
    with pytest.raises(ValueError, match="factors"):
        render_patterns(torch.zeros(3, 4))


def test_market_has_the_stylized_facts_and_iid_noise_does_not():
    data = market(2000, window=32, seed=0)
    assert data.x.shape == (2000, 32) and data.x.dtype == torch.float32
    facts = stylized_facts(data.x)
    assert facts["excess_kurtosis"] > 2.0, "fat tails"
    assert abs(facts["autocorr_returns"]) < 0.05, "no linear predictability"
    assert facts["autocorr_abs"] > 0.1, "volatility clustering"
    iid = stylized_facts(np.random.default_rng(0).standard_normal((2000, 32)))
    assert abs(iid["excess_kurtosis"]) < 0.2 and abs(iid["autocorr_abs"]) < 0.03
    assert np.array_equal(simulate_returns(100, 5), simulate_returns(100, 5))
    assert data.returns.std() == pytest.approx(0.01, rel=0.2)


def test_market_checks_its_inputs():
    with pytest.raises(ValueError, match="stationary"):
        simulate_returns(10, alpha=0.5, beta=0.6)
    with pytest.raises(ValueError, match="nu"):
        simulate_returns(10, nu=2.0)
    with pytest.raises(ValueError, match="lags"):
        stylized_facts(np.zeros((3, 4)) + np.arange(4), lags=(5,))
    w = return_windows(np.arange(10.0), 4, stride=3)
    assert w.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    with pytest.raises(ValueError, match="at least 4"):
        return_windows(np.arange(3.0), 4)


def test_melodies_are_one_note_per_step_and_end_on_the_tonic():
    data = melodies(300, seed=0)
    assert data.shape == (1, N_PITCHES, 16)
    assert torch.all(data.x.sum(2) == 1), "exactly one pitch per step"
    pitches = to_pitches(data.x)
    assert pitches.shape == (300, 16)
    assert set(pitches[:, -1].tolist()) <= {60, 72}, "melodies end on C"
    # mostly stepwise motion, as real melodies: most intervals are at most 2 scale steps
    deg = data.x[:, 0].argmax(1)
    leaps = (deg[:, 1:] - deg[:, :-1]).abs()
    assert (leaps <= 2).float().mean() > 0.8
    # the A' phrase repeats the motif transposed by the label's interval
    shift = torch.tensor([2, 4])[data.y]
    a, a2 = deg[:, :4], deg[:, 4:8]
    ok = (a + shift[:, None]).clamp(max=N_PITCHES - 1) == a2
    assert ok.all()
    assert torch.equal(to_roll(pitches), data.x)


def test_piano_roll_conversions_validate():
    with pytest.raises(ValueError, match="piano rolls"):
        to_pitches(torch.zeros(2, 1, 7, 16))
    with pytest.raises(ValueError, match="not on the scale"):
        to_roll(torch.tensor([[61, 60]]))
    soft = torch.rand(N_PITCHES, 16)
    assert to_pitches(soft).shape == (16,)
    assert set(to_pitches(soft).tolist()) <= set(SCALE_MIDI)


def _shipped_app(name: str, kind: str, settings: str):
    """The shipped checkpoint ``name`` on the CPU, its metadata, and the build script's settings."""
    import importlib.util
    from pathlib import Path

    from genlearn.checkpoints import load_checkpoint, pretrained_path

    path = pretrained_path(name)
    assert path.stat().st_size < 2_000_000, "pretrained files must stay under 2 MB"
    model, meta = load_checkpoint(path, torch.device("cpu"), expect=kind)
    script = Path(__file__).resolve().parents[1] / "scripts" / "build_pretrained_apps.py"
    spec = importlib.util.spec_from_file_location("build_pretrained_apps", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    s = getattr(build, settings)
    for key, value in s["model"].items():
        got = getattr(model.config, key)
        assert (tuple(got) if isinstance(got, (list, tuple)) else got) == value, f"config {key} differs from the script"
    return model, meta, s


def test_the_shipped_market_gan_matches_its_build_script_and_has_fat_tails():
    from genlearn.data.market import stylized_facts

    gan, meta, s = _shipped_app("app_market_gan", "gan", "MARKET")
    assert meta["steps"] == s["steps"] and gan.G_ema is None
    facts = stylized_facts(gan.sample(4000, generator=torch.Generator().manual_seed(0)))
    # what lesson 09 says of it: fatter tails and more clustering than a Gaussian, a smaller spread than the market's
    assert facts["excess_kurtosis"] > 1 and facts["autocorr_abs"] > 0.1 and 0.6 < facts["std"] < 0.95, facts


def test_the_shipped_phantom_vae_is_conditional_and_matches_its_build_script():
    model, meta, build_phantoms = _shipped_app("app_phantoms_vae", "vae", "PHANTOMS")
    assert meta["epochs"] == build_phantoms["epochs"]
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(600) % 2
    x = model.sample(600, y, generator=gen)
    spots = (x[:, 0, 9:23, 11:21] > 0.6).flatten(1).any(1).float()
    assert spots[y == 1].mean() > spots[y == 0].mean() + 0.1, "asking for a lesion must change the images"
