"""genlearn.plot's colours stay distinguishable for colour-blind readers (WCAG 1.4.1: colour is
not the only thing that tells series apart, but it must not mislead either).

Each palette is passed through the colour-vision-deficiency simulation of Machado, Oliveira &
Fernandes (2009, severity 1: protanopia, deuteranopia, tritanopia) and compared in CIELAB:
every pair of colours, and each colour against the white background, must stay at least
MIN_DELTA_E apart (CIE76). About 2.3 is a just-noticeable difference; 15 keeps small scatter
markers and thin lines apart. matplotlib's tab10 drops to 4.6 under protanopia.
"""

import itertools

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_rgb

from genlearn import plot

MIN_DELTA_E = 15.0
WHITE = "#FFFFFF"
MACHADO = {  # linear-RGB matrices, severity 1.0
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
D65 = np.array([0.95047, 1.0, 1.08883])


def to_lab(colors, vision: str | None = None) -> np.ndarray:
    rgb = np.array([to_rgb(c) for c in colors])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    if vision:
        linear = np.clip(linear @ np.array(MACHADO[vision]).T, 0, 1)
    xyz = linear @ SRGB_TO_XYZ.T / D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def closest_pair(colors, vision=None) -> tuple[float, str, str]:
    lab = to_lab(colors, vision)
    return min((float(np.linalg.norm(lab[i] - lab[j])), colors[i], colors[j])
               for i, j in itertools.combinations(range(len(colors)), 2))


@pytest.mark.parametrize("vision", [None, "protanopia", "deuteranopia", "tritanopia"])
@pytest.mark.parametrize("name", ["PALETTE", "CATEGORICAL"])
def test_palette_stays_distinguishable_under_colour_blindness(name, vision):
    colors = list(getattr(plot, name)) + [WHITE]
    distance, a, b = closest_pair(colors, vision)
    assert distance >= MIN_DELTA_E, \
        f"plot.{name} under {vision or 'normal vision'}: {a} and {b} are only {distance:.1f} apart (need {MIN_DELTA_E})"


def test_the_check_rejects_a_palette_that_is_not_safe():
    tab10 = [colormaps["tab10"](i) for i in range(10)]
    assert closest_pair(tab10, "protanopia")[0] < MIN_DELTA_E
    assert closest_pair(["#FF0000", "#00A000"], "deuteranopia")[0] < MIN_DELTA_E  # red vs green
    assert closest_pair(["#FF0000", "#00A000"])[0] > MIN_DELTA_E


def test_figures_use_the_palette():
    fig = plot.curves(_History([{"step": 0, "a": 1.0, "b": 2.0}, {"step": 1, "a": 0.5, "b": 1.5}]), ["a", "b"])
    assert [line.get_color().upper() for line in fig.axes[0].lines] == list(plot.PALETTE[:2])
    z, y = np.random.default_rng(0).normal(size=(100, 2)), np.arange(100) % 10
    fig = plot.latent_scatter(z, y)
    faces = [tuple(np.round(points.get_facecolors()[0], 3)) for points in fig.axes[0].collections]  # one per class
    assert faces == [tuple(np.round(plot.CATEGORICAL_CMAP(i / 9), 3)) for i in range(10)]
    assert len(plot.CATEGORICAL) == 10, "ten classes (the digits) need ten colours"


class _History:
    def __init__(self, records):
        self.records = records
