"""Window/level presets, montage and orthogonal planes."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from workbench.imaging import Volume, show
from workbench.imaging.view import PRESETS, Preset, montage, orthogonal, window

matplotlib.use("Agg")


@pytest.fixture
def volume() -> Volume:
    array = np.arange(10 * 20 * 30, dtype=np.int16).reshape(10, 20, 30) - 3000
    return Volume(
        array,
        (0.5, 0.8, 3.0),
        (0.0, 0.0, 0.0),
        np.eye(3),
        {"modality": "CT", "window_center": 40.0, "window_width": 400.0},
    )


def test_window_choice(volume: Volume) -> None:
    assert window(volume, "lung") == PRESETS[Preset.LUNG]
    assert window(volume, center=100, width=50).limits == (75, 125)
    assert window(volume).center == 40.0  # the file's own window
    volume.metadata.clear()
    low, high = window(volume).limits
    assert volume.array.min() <= low < high <= volume.array.max()
    with pytest.raises(ValueError, match="unknown preset 'lungs'"):
        window(volume, "lungs")
    with pytest.raises(ValueError, match="positive width"):
        window(volume, center=10, width=0)


def test_orthogonal_planes_honour_spacing(volume: Volume) -> None:
    fig = orthogonal(volume, preset="bone")
    axial, coronal, sagittal = fig.axes
    assert axial.images[0].get_array().shape == (20, 30)
    assert coronal.images[0].get_array().shape == (10, 30)
    assert sagittal.images[0].get_array().shape == (10, 20)
    # drawn aspect is the physical height/width of a pixel
    assert axial.get_aspect() == pytest.approx(0.8 / 0.5)
    assert coronal.get_aspect() == pytest.approx(3.0 / 0.5)
    assert sagittal.get_aspect() == pytest.approx(3.0 / 0.8)
    assert axial.images[0].get_clim() == PRESETS[Preset.BONE].limits


def test_montage_and_show(volume: Volume) -> None:
    fig = montage(volume, n=4, columns=2, preset="lung")
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["k=0", "k=3", "k=6", "k=9"]
    assert len(show(volume, preset="mediastinum", mode="montage", n=3).axes) == 4
    assert len(show(volume, center=0, width=100).axes) == 3
    with pytest.raises(ValueError, match="unknown mode"):
        show(volume, mode="cube")
