r"""Turn notes into sound with numpy alone, for ``IPython.display.Audio``.

A note of MIDI pitch :math:`m` has frequency :math:`f = 440 \cdot 2^{(m - 69)/12}` Hz. We
draw each note as a few harmonics under a plucked envelope (a 5 ms attack, then an
exponential decay), which sounds like a soft piano rather than a beeping sine and has no
clicks between notes. The result is a float32 waveform in [-1, 1]:

    from IPython.display import Audio
    Audio(synthesize([60, 64, 67, 72]), rate=SAMPLE_RATE)
"""

from __future__ import annotations

import numpy as np

from ._checks import check_positive

SAMPLE_RATE = 16_000
HARMONICS = (1.0, 0.5, 0.25, 0.12)  # amplitudes of the 1st, 2nd, ... harmonic


def midi_to_hz(midi) -> np.ndarray:
    """Frequency in Hz of MIDI pitch numbers (69 is A4 = 440 Hz; 60 is middle C)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def note(freq: float, seconds: float, sample_rate: int = SAMPLE_RATE, decay: float = 3.0) -> np.ndarray:
    """One plucked note: harmonics of ``freq`` under an attack-decay envelope."""
    freq, seconds = check_positive("freq", freq), check_positive("seconds", seconds)
    if freq * len(HARMONICS) >= sample_rate / 2:
        raise ValueError(f"{freq:.0f} Hz is too high for sample rate {sample_rate} (aliasing)")
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    wave = sum(a * np.sin(2 * np.pi * (k + 1) * freq * t) for k, a in enumerate(HARMONICS))
    attack = np.minimum(t / 0.005, 1.0)
    release = np.minimum((seconds - t) / 0.01, 1.0)  # fade out the last 10 ms: no click
    return (wave * attack * release * np.exp(-decay * t)).astype(np.float32)


def synthesize(pitches, step_seconds: float = 0.22, sample_rate: int = SAMPLE_RATE,
               rest: int = -1) -> np.ndarray:
    """A melody (MIDI pitch per step; ``rest`` for silence) as a float32 waveform in [-1, 1]."""
    p = np.asarray(pitches).ravel()
    if p.size == 0:
        raise ValueError("no pitches to play")
    step_seconds = check_positive("step_seconds", step_seconds)
    n = int(round(step_seconds * sample_rate))
    parts = [np.zeros(n, np.float32) if m == rest else note(float(midi_to_hz(m)), step_seconds, sample_rate)
             for m in p]
    wave = np.concatenate(parts)
    peak = np.abs(wave).max()
    return wave / peak * 0.9 if peak > 0 else wave


def melody_sequence(melodies, gap_steps: int = 2, **kw) -> np.ndarray:
    """Several melodies (N, T) played one after another with ``gap_steps`` of silence between."""
    rows = np.atleast_2d(np.asarray(melodies))
    rest = kw.get("rest", -1)
    gap = np.full(gap_steps, rest)
    seq = np.concatenate([np.concatenate([r, gap]) for r in rows])
    return synthesize(seq, **kw)
