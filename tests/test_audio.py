import numpy as np
import pytest

from genlearn.audio import SAMPLE_RATE, melody_sequence, midi_to_hz, note, synthesize


def dominant_hz(wave, rate=SAMPLE_RATE):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()]


def test_midi_to_hz_is_equal_tempered():
    assert midi_to_hz(69) == pytest.approx(440.0)
    assert midi_to_hz(81) == pytest.approx(880.0)
    assert midi_to_hz(60) == pytest.approx(261.63, abs=0.01)


def test_a_note_sounds_at_its_pitch_and_fades():
    wave = note(440.0, 0.5)
    assert wave.dtype == np.float32 and len(wave) == SAMPLE_RATE // 2
    assert dominant_hz(wave) == pytest.approx(440.0, abs=3)
    assert abs(wave[0]) < 1e-3 and abs(wave[-1]) < 1e-3, "no clicks at the ends"
    q = len(wave) // 4
    assert np.abs(wave[:q]).max() > np.abs(wave[-q:]).max(), "a plucked note decays"


def test_synthesize_plays_each_step_in_turn():
    wave = synthesize([60, -1, 72], step_seconds=0.25)
    n = SAMPLE_RATE // 4
    assert len(wave) == 3 * n and np.abs(wave).max() <= 0.9 + 1e-6
    assert dominant_hz(wave[:n]) == pytest.approx(261.6, abs=5)
    assert np.all(wave[n:2 * n] == 0), "a rest is silence"
    assert dominant_hz(wave[2 * n:]) == pytest.approx(523.3, abs=5)
    assert np.array_equal(wave, synthesize([60, -1, 72], step_seconds=0.25))


def test_melody_sequence_adds_gaps_and_inputs_are_checked():
    wave = melody_sequence([[60, 62], [64, 65]], gap_steps=1, step_seconds=0.1)
    assert len(wave) == 6 * int(0.1 * SAMPLE_RATE)
    with pytest.raises(ValueError, match="no pitches"):
        synthesize([])
    with pytest.raises(ValueError, match="step_seconds"):
        synthesize([60], step_seconds=0)
    with pytest.raises(ValueError, match="too high"):
        note(5000.0, 0.1)
