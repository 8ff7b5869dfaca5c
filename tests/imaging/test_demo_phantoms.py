"""The synthetic anatomy: Hounsfield values where the anatomy says, ground glass only with pneumonia."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.imaging.demo import phantoms
from workbench.imaging.demo.phantoms import ChestAnatomy


def _anatomy(seed: int = 5, *, pneumonia: bool = False) -> ChestAnatomy:
    return ChestAnatomy.random(np.random.default_rng(seed), pneumonia=pneumonia)


def _at(anatomy: ChestAnatomy, x: float, y: float, z: float) -> float:
    """The noise-free Hounsfield value at one point, sampled on a small grid around it."""
    grid = np.array([-1.0, 0.0, 1.0])
    hu = phantoms.chest_hu(anatomy, x + grid, y + grid, z + grid, noise=False)
    return float(hu[1, 1, 1])


@pytest.fixture(scope="module")
def normal() -> ChestAnatomy:
    return _anatomy()


def test_outside_the_body_is_air(normal: ChestAnatomy) -> None:
    assert _at(normal, 0.0, -normal.body_b - 30.0, -40.0) == pytest.approx(phantoms.AIR, abs=1)


def test_subcutaneous_fat_and_muscle_layers(normal: ChestAnatomy) -> None:
    skin = normal.body_a
    assert _at(normal, skin - normal.fat / 2, 0.0, -150.0) == pytest.approx(phantoms.FAT, abs=15)
    paraspinal = (35.0, normal.spine_y + 35.0, -150.0)
    assert _at(normal, *paraspinal) == pytest.approx(phantoms.MUSCLE, abs=15)


def test_lungs_are_aerated_and_hold_vessels(normal: ChestAnatomy) -> None:
    cy, ca, _ = normal.cavity
    x = np.linspace(-ca, ca, 160)
    hu = phantoms.chest_hu(normal, x, np.array([cy + 10.0]), np.linspace(-60, 20, 9), noise=False)
    lung = hu[:, 0, np.abs(np.abs(x) - 0.55 * ca) < 15]
    assert np.median(lung) == pytest.approx(phantoms.LUNG, abs=40)
    assert lung.max() > -600, "no vessel crosses the lung"


def test_spine_is_bone_and_mediastinum_soft_tissue(normal: ChestAnatomy) -> None:
    body_of_vertebra = [_at(normal, 0.0, normal.spine_y, z) for z in (-40.0, -30.0, -20.0, -10.0)]
    assert max(body_of_vertebra) >= 300  # discs (80 HU) alternate with cancellous bone (300 HU)
    assert _at(normal, 0.0, normal.spine_y + 16.5, -20.0) > 600  # posterior cortex
    hx, hy, hz = normal.heart_center
    assert _at(normal, hx, hy, hz) == pytest.approx(phantoms.BLOOD, abs=10)


def test_trachea_is_air_above_the_carina(normal: ChestAnatomy) -> None:
    assert _at(normal, 0.0, normal.spine_y - 45.0, 40.0) == pytest.approx(phantoms.AIR, abs=30)


def test_pneumonia_adds_ground_glass_inside_the_lungs() -> None:
    sick, healthy = _anatomy(9, pneumonia=True), _anatomy(9)
    assert phantoms.GGO_COUNT[0] <= len(sick.opacities) <= phantoms.GGO_COUNT[1] == 10
    sides = [o.center[0] < 0 for o in sick.opacities]
    assert abs(sides.count(True) - sides.count(False)) <= 1  # bilateral: both lungs alike
    assert not healthy.opacities
    lo, hi = phantoms.GGO_RANGE
    for opacity in sick.opacities:
        assert lo <= opacity.hu <= hi
        around = [np.linspace(c - 4, c + 4, 5) for c in opacity.center]
        sick_hu = np.median(phantoms.chest_hu(sick, *around, noise=False))
        healthy_hu = np.median(phantoms.chest_hu(healthy, *around, noise=False))
        assert -600 <= sick_hu <= -250, f"opacity at {opacity.center}: {sick_hu} HU"
        assert healthy_hu < -700, f"the same place without pneumonia: {healthy_hu} HU"


def test_rendering_is_deterministic_and_slab_independent(normal: ChestAnatomy) -> None:
    x = np.linspace(-150, 150, 64)
    z = np.linspace(-100, 50, 8)
    whole = phantoms.chest_hu(normal, x, x, z, noise=False)
    halves = np.concatenate(
        [
            phantoms.chest_hu(normal, x, x, z[:4], noise=False),
            phantoms.chest_hu(normal, x, x, z[4:], noise=False),
        ]
    )
    np.testing.assert_array_equal(whole, halves)
    noisy = phantoms.chest_hu(normal, x, x, z)
    np.testing.assert_array_equal(noisy, phantoms.chest_hu(normal, x, x, z))
    assert 5 < float(np.std(noisy - whole)) < 20


def test_radiograph_shows_dark_lungs_and_bright_spine(normal: ChestAnatomy) -> None:
    image = phantoms.chest_radiograph(normal, size=256)
    assert image.shape == (256, 256) and image.dtype == np.uint16 and image.max() <= 4095
    rows = slice(100, 150)
    lung_field = image[rows, 60:80].mean()  # patient's right lung
    midline = image[rows, 120:136].mean()  # spine and mediastinum
    above_the_shoulders = image[:20, :40].mean()
    assert above_the_shoulders < 100 < lung_field < midline


def test_brain_t2_contrast() -> None:
    x = np.linspace(-100, 100, 201)  # 1 mm: index = mm + 100
    image = phantoms.brain_t2(1, x, x, np.array([22.0]))[0].astype(float)
    ventricle = image[100 - 2, 100 + 11]  # x = 11 mm, y = -2 mm: the left lateral ventricle
    white_matter = image[100 + 20, 100 + 30]
    skull = image[100 + 91, 100]  # behind the brain
    assert ventricle > 1500 > white_matter > 500 > skull
