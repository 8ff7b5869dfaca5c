"""Synthetic anatomy for the demo hospital: chest CT in Hounsfield units, chest radiographs, brain MR.

Every function here is pure numpy (vectorised, no per-voxel Python loops) and deterministic: the anatomy
of a patient is a :class:`ChestAnatomy` drawn from a seeded generator, and rendering it at any set of
coordinates always gives the same values. Coordinates are patient LPS millimetres (x towards the patient's
left, y towards the back, z towards the head), given as three 1-D arrays; volumes come back indexed
``[z, y, x]``. Because rendering is a function of coordinates, a series can be rendered a slab at a time to
keep memory modest.

We write our own phantom rather than use a library one: the classic phantoms (Shepp-Logan, XCAT-like
meshes) are either not chest anatomy in Hounsfield units or not installable offline.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from workbench.imaging.volume import xyz

logger = logging.getLogger(__name__)

# Hounsfield units of the tissues drawn.
AIR = -1000.0
LUNG = -850.0
FAT = -100.0
MEDIASTINAL_FAT = -90.0
SOFT_TISSUE = 35.0
MUSCLE = 45.0
BLOOD = 40.0
LIVER = 58.0
CSF = 10.0
DISC = 80.0
CANCELLOUS_BONE = 300.0
CORTICAL_BONE = 950.0
GGO_RANGE = (-500.0, -300.0)
"""Ground-glass opacities are drawn with a peak between these Hounsfield units."""
GGO_COUNT = (6, 10)
"""Fewest and most ground-glass opacities of a pneumonia, shared between both lungs."""
GGO_RADII = ((30.0, 30.0, 30.0), (60.0, 50.0, 60.0))
"""Smallest and largest semi-axes (x, y, z; mm) of one opacity."""

NOISE_HU = 10.0
"""Standard deviation of the CT image noise."""

_LATTICE_STEP = 4.0  # mm between the random values the vessel and sulcus fields are interpolated from
_LATTICE_BOX = ((-200.0, 200.0), (-200.0, 200.0), (-260.0, 140.0))  # x, y, z: where lungs can be (mm)
_MU_WATER = 0.0195  # linear attenuation of water at ~70 keV, per mm


@dataclass(frozen=True)
class Opacity:
    """One ground-glass opacity: a soft-edged, irregular ellipsoid inside a lung.

    Attributes
    ----------
    center : tuple of float
        LPS position (mm).
    radii : tuple of float
        Semi-axes along x, y, z (mm).
    hu : float
        Peak Hounsfield value, within :data:`GGO_RANGE`.
    """

    center: tuple[float, float, float]
    radii: tuple[float, float, float]
    hu: float


@dataclass(frozen=True)
class ChestAnatomy:
    """The body of one synthetic patient, from the neck to the upper abdomen.

    Landmarks are in LPS millimetres with the carina at ``z = 0``. Use :meth:`random` to draw one.

    Attributes
    ----------
    seed : int
        Seeds the random fields (vessels, rib phase, noise) so rendering is reproducible.
    body_a, body_b : float
        Lateral and antero-posterior semi-axes of the trunk.
    fat, muscle : float
        Thickness of the subcutaneous fat and of the chest-wall muscle layer.
    apex_z : float
        Height of the lung apices.
    dome_right, dome_left : float
        Heights of the diaphragm domes.
    heart_center, heart_radii : tuple of float
        The heart as an ellipsoid.
    opacities : tuple of Opacity
        Ground-glass opacities (empty for a normal chest).
    """

    seed: int
    body_a: float = 165.0
    body_b: float = 112.0
    fat: float = 14.0
    muscle: float = 12.0
    apex_z: float = 95.0
    dome_right: float = -125.0
    dome_left: float = -140.0
    heart_center: tuple[float, float, float] = (25.0, -25.0, -80.0)
    heart_radii: tuple[float, float, float] = (62.0, 50.0, 55.0)
    opacities: tuple[Opacity, ...] = ()

    @classmethod
    def random(cls, rng: np.random.Generator, *, pneumonia: bool = False) -> ChestAnatomy:
        """Draw a plausible adult chest.

        Parameters
        ----------
        rng
            The generator; the same state gives the same anatomy.
        pneumonia
            Add :data:`GGO_COUNT` ground-glass opacities in both lungs, preferring the periphery and the
            lower, posterior lung (the usual picture of a viral or atypical pneumonia).

        Returns
        -------
        ChestAnatomy
        """
        anatomy = cls(
            seed=int(rng.integers(2**31)),
            body_a=float(rng.uniform(150, 180)),
            body_b=float(rng.uniform(100, 122)),
            fat=float(rng.uniform(8, 24)),
            muscle=float(rng.uniform(9, 15)),
            apex_z=float(rng.uniform(88, 102)),
            dome_right=float(rng.uniform(-130, -115)),
            dome_left=float(rng.uniform(-145, -130)),
            heart_center=(
                float(rng.uniform(18, 32)),
                float(rng.uniform(-32, -20)),
                float(rng.uniform(-90, -70)),
            ),
            heart_radii=(float(rng.uniform(55, 68)), float(rng.uniform(45, 55)), float(rng.uniform(50, 60))),
        )
        if not pneumonia:
            return anatomy
        return _with_opacities(anatomy, rng, int(rng.integers(GGO_COUNT[0], GGO_COUNT[1] + 1)))

    # -- derived geometry ----------------------------------------------------------------------------
    @property
    def cavity(self) -> tuple[float, float, float]:
        """Thoracic cavity ellipse: centre y, lateral and antero-posterior semi-axes (mm)."""
        wall = self.fat + self.muscle
        return -10.0, self.body_a - wall, self.body_b - wall - 8.0

    @property
    def spine_y(self) -> float:
        """Antero-posterior position of the vertebral body's centre."""
        cy, _, cb = self.cavity
        return cy + cb - 15.0


def _with_opacities(anatomy: ChestAnatomy, rng: np.random.Generator, count: int) -> ChestAnatomy:
    """Return ``anatomy`` with ``count`` ground-glass opacities centred inside its lungs, both lungs alike."""
    # Candidate centres: random points inside the lungs, weighted towards the lower, posterior periphery.
    points = rng.uniform((-160, -110, -150), (160, 110, 60), size=(4000, 3)).astype(np.float32)
    inside = _lung_mask(anatomy, points[:, 0], points[:, 1], points[:, 2])
    points = points[inside]
    cy, ca, cb = anatomy.cavity
    periphery = np.hypot(points[:, 0] / ca, (points[:, 1] - cy) / cb)
    weight = np.exp(2.0 * periphery) * np.exp(0.01 * points[:, 1]) * np.exp(-0.012 * points[:, 2])
    chosen: list[int] = []
    for side, n in ((points[:, 0] < 0, count - count // 2), (points[:, 0] >= 0, count // 2)):  # right, left
        candidates = np.flatnonzero(side)
        w = weight[candidates]
        chosen += rng.choice(candidates, size=n, replace=False, p=w / w.sum()).tolist()
    opacities = tuple(
        Opacity(
            center=xyz(points[i]),
            radii=xyz(rng.uniform(*GGO_RADII)),
            hu=float(rng.uniform(*GGO_RANGE)),
        )
        for i in chosen
    )
    return replace(anatomy, opacities=opacities)


# -- random fields -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _lattice(seed: int, n_fields: int, sigma: float) -> np.ndarray:
    """``n_fields`` smooth unit-variance Gaussian random fields on the coarse lattice (cached per seed)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int((hi - lo) / _LATTICE_STEP) + 1 for lo, hi in reversed(_LATTICE_BOX))  # z, y, x
    fields = np.empty((n_fields, *shape), dtype=np.float32)
    for i in range(n_fields):
        smooth = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
        fields[i] = smooth / smooth.std()
    return fields


def _interpolate(lattice: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Sample a lattice field at the grid ``z x y x x`` by separable linear interpolation.

    ``scipy.ndimage.zoom``/``map_coordinates`` cost several times more on a 512x512x64 grid; the grid is
    rectilinear, so three 1-D interpolations do.
    """
    # z first: each step shrinks the array the next one works on.
    out = lattice
    for axis, coords, (lo, _hi) in (
        (0, z, _LATTICE_BOX[2]),
        (1, y, _LATTICE_BOX[1]),
        (2, x, _LATTICE_BOX[0]),
    ):
        pos = np.clip(
            (np.asarray(coords, dtype=np.float32) - lo) / _LATTICE_STEP, 0, lattice.shape[axis] - 1.001
        )
        i0 = pos.astype(np.intp)
        shape = [1, 1, 1]
        shape[axis] = -1
        frac = (pos - i0).astype(np.float32).reshape(shape)
        below = np.take(out, i0, axis=axis)
        out = below + (np.take(out, i0 + 1, axis=axis) - below) * frac
    return out


# -- chest -------------------------------------------------------------------------------------------
def _ellipse(
    x: np.ndarray,
    y: np.ndarray,
    cx: float,
    cy: float | np.ndarray,
    a: float | np.ndarray,
    b: float | np.ndarray,
) -> np.ndarray:
    """Normalised squared radius ``((x-cx)/a)^2 + ((y-cy)/b)^2`` (< 1 inside)."""
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2


def _capsule(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    p0: tuple[float, float, float],
    p1: tuple[float, float, float],
) -> np.ndarray:
    """Distance from each point to the segment ``p0``-``p1`` (3-D, broadcasting)."""
    d = np.subtract(p1, p0, dtype=np.float32)
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2)


def _trunk(anatomy: ChestAnatomy, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk outline at height ``z``: centre y, semi-axes a and b, narrowing to the neck above the apex."""
    neck = np.clip((z - anatomy.apex_z - 10.0) / 40.0, 0.0, 1.0)
    a = anatomy.body_a + (58.0 - anatomy.body_a) * neck
    b = anatomy.body_b + (52.0 - anatomy.body_b) * neck
    return 20.0 * neck, a, b


def _diaphragm(anatomy: ChestAnatomy, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the diaphragm under each (x, y): two domes, deepest at the posterior recesses."""
    cy, ca, cb = anatomy.cavity
    dome = np.where(x < 0, anatomy.dome_right, anatomy.dome_left)
    rn = ((np.abs(x) - 0.45 * ca) / (0.6 * ca)) ** 2 + ((y - cy) / cb) ** 2
    return dome - 45.0 * rn - 25.0 * np.clip((y - cy) / cb, 0.0, 1.0)


def _lung_mask(anatomy: ChestAnatomy, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Both lungs (broadcasting over x, y, z)."""
    cy, ca, cb = anatomy.cavity
    # Lungs widen from small apical caps to the full hemithorax 40 mm below the carina.
    grow = np.sqrt(np.clip((anatomy.apex_z - z) / (anatomy.apex_z + 40.0), 0.0, 1.0))
    grow = np.maximum(grow, 1e-3)
    hemithorax = _ellipse(np.abs(x), y, 0.48 * ca, cy + 0.15 * cb, 0.62 * ca * grow, 1.05 * cb * grow) < 1
    cavity = _ellipse(x, y, 0.0, cy, ca, cb) < 1
    mediastinum = np.abs(x - 4.0) < np.where(z > -30, 26.0, 18.0)
    spine = _ellipse(x, y, 0.0, anatomy.spine_y, 30.0, 32.0) < 1
    spine |= _ellipse(x, y, 22.0, anatomy.spine_y - 16.0, 16.0, 16.0) < 1  # the descending aorta
    hx, hy, hz = anatomy.heart_center
    ha, hb, hc = anatomy.heart_radii
    heart = ((x - hx) / (ha * 1.1)) ** 2 + ((y - hy) / (hb * 1.1)) ** 2 + ((z - hz) / (hc * 1.1)) ** 2 < 1
    return hemithorax & cavity & ~mediastinum & ~spine & ~heart & (z > _diaphragm(anatomy, x, y))


class _Canvas:
    """A float32 image on a rectilinear grid, painted structure by structure.

    Each structure is evaluated only inside its bounding box, which keeps a 512x512x64 chest at about a
    second: most structures are small compared with the field of view.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, fill: float) -> None:
        self.x, self.y, self.z = (np.asarray(c, dtype=np.float32) for c in (x, y, z))
        self.img = np.full((len(self.z), len(self.y), len(self.x)), fill, dtype=np.float32)

    def box(
        self, lo: tuple[float, float, float] = (-np.inf,) * 3, hi: tuple[float, float, float] = (np.inf,) * 3
    ) -> _Box | None:
        """The part of the grid inside ``lo``-``hi`` (LPS mm), or ``None`` if it is empty."""
        slices = []
        for coords, a, b in zip((self.z, self.y, self.x), lo[::-1], hi[::-1], strict=True):
            inside = np.flatnonzero((coords >= a) & (coords <= b))
            if inside.size == 0:
                return None
            slices.append(slice(int(inside[0]), int(inside[-1]) + 1))
        zs, ys, xs = slices
        return _Box(
            tuple(slices), self.x[xs][None, None, :], self.y[ys][None, :, None], self.z[zs][:, None, None]
        )

    def paint(self, box: _Box | None, value: float | np.ndarray, where: np.ndarray) -> None:
        """Set the voxels of ``box`` where ``where`` holds to ``value`` (both broadcast to the box)."""
        if box is None:
            return
        block = self.img[box.slices]
        np.copyto(block, value, where=np.broadcast_to(where, block.shape))


@dataclass(frozen=True)
class _Box:
    slices: tuple[slice, ...]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


def _segment_box(
    p0: tuple[float, float, float], p1: tuple[float, float, float], r: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return xyz(min(a, b) - r for a, b in zip(p0, p1, strict=True)), xyz(
        max(a, b) + r for a, b in zip(p0, p1, strict=True)
    )


def chest_hu(
    anatomy: ChestAnatomy,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    arms: bool = False,
    noise: bool = True,
) -> np.ndarray:
    """Render a chest in Hounsfield units on the grid ``z x y x x``.

    Parameters
    ----------
    anatomy
        The patient.
    x, y, z
        1-D LPS coordinates (mm) of the columns, rows and slices.
    arms
        Draw the arms beside the trunk (for radiographs; a chest CT is taken with the arms raised).
    noise
        Add Gaussian image noise (:data:`NOISE_HU`) seeded by the anatomy and the slice positions.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(len(z), len(y), len(x))``.
    """
    c = _Canvas(x, y, z, AIR)
    full = c.box()
    if full is None:
        raise ValueError("chest_hu needs at least one coordinate along each axis")
    gx, gy, gz = full.x, full.y, full.z
    cy, ca, cb = anatomy.cavity
    sy = anatomy.spine_y
    top = anatomy.apex_z

    # Trunk: subcutaneous fat, the chest-wall muscles, then the cavity filled with soft tissue.
    ty, ta, tb = _trunk(anatomy, gz)
    c.paint(full, FAT, _ellipse(gx, gy, 0.0, ty, ta, tb) < 1)
    c.paint(full, MUSCLE, _ellipse(gx, gy, 0.0, ty, ta - anatomy.fat, tb - anatomy.fat) < 1)
    chest = c.box(hi=(np.inf, np.inf, top + 15.0))
    cavity = _ellipse(gx, gy, 0.0, cy, ca, cb) < 1  # 2-D: (1, ny, nx)
    c.paint(chest, SOFT_TISSUE, cavity)
    if arms:
        for side in (-1.0, 1.0):
            cx = side * (anatomy.body_a + 48.0)
            b = c.box((cx - 45.0, -45.0, -np.inf), (cx + 45.0, 45.0, top + 35.0))
            if b is not None:
                c.paint(b, MUSCLE, _ellipse(b.x, b.y, cx, 0.0, 42.0, 45.0) < 1)
                c.paint(b, CORTICAL_BONE, _ellipse(b.x, b.y, cx, 0.0, 11.0, 11.0) < 1)

    # Anterior mediastinal fat, then the lungs with their vessels.
    b = c.box((-40.0, cy - cb, -40.0), (45.0, sy, top))
    if b is not None:
        c.paint(b, MEDIASTINAL_FAT, _ellipse(b.x, b.y, 4.0, cy - 0.35 * cb, 30.0, 0.55 * cb) < 1)
    lungs = np.zeros(c.img.shape, dtype=bool)
    b = c.box((-ca, cy - cb, -np.inf), (ca, cy + cb, top))
    if b is not None:
        lungs[b.slices] = _lung_mask(anatomy, b.x, b.y, b.z)
        c.paint(b, _lung_with_vessels(anatomy, b.x.ravel(), b.y.ravel(), b.z.ravel()), lungs[b.slices])

    # Below the diaphragm: liver on the right, the stomach with a fundal air bubble on the left.
    b = c.box(hi=(np.inf, np.inf, max(anatomy.dome_right, anatomy.dome_left) + 1.0))
    if b is not None:
        abdomen = (_ellipse(b.x, b.y, 0.0, cy, ca, cb) < 1) & (_diaphragm(anatomy, b.x, b.y) >= b.z)
        abdomen &= ~lungs[b.slices]
        c.paint(b, LIVER, abdomen & (b.x < 35.0))
        sz = anatomy.dome_left - 35.0
        stomach = abdomen & (
            ((b.x - 62.0) / 38.0) ** 2 + ((b.y + 5.0) / 32.0) ** 2 + ((b.z - sz) / 28.0) ** 2 < 1
        )
        c.paint(b, 10.0, stomach)
        c.paint(b, AIR, stomach & (sz + 8.0 < b.z))

    # Heart in its pericardial fat; great vessels.
    (hx, hy, hz), (ha, hb, hc) = anatomy.heart_center, anatomy.heart_radii
    b = c.box((hx - 1.1 * ha, hy - 1.1 * hb, hz - 1.1 * hc), (hx + 1.1 * ha, hy + 1.1 * hb, hz + 1.1 * hc))
    if b is not None:
        heart = ((b.x - hx) / ha) ** 2 + ((b.y - hy) / hb) ** 2 + ((b.z - hz) / hc) ** 2
        c.paint(b, MEDIASTINAL_FAT, heart < 1.1**2)
        c.paint(b, BLOOD, heart < 1)
    vessels = [  # (x, y, radius, z from, z to)
        (2.0, -22.0, 15.0, hz + 0.4 * hc, 18.0),  # ascending aorta
        (22.0, sy - 16.0, 12.0, -np.inf, 18.0),  # descending aorta
        (-24.0, -14.0, 10.0, hz + 0.5 * hc, 45.0),  # superior vena cava
        (26.0, -22.0, 13.0, hz + 0.5 * hc, -8.0),  # pulmonary trunk
        (-10.0, -12.0, 6.0, 18.0, top + 60.0),  # brachiocephalic artery
        (6.0, -8.0, 6.0, 18.0, top + 60.0),  # left common carotid artery
        (18.0, -2.0, 6.0, 18.0, top + 60.0),  # left subclavian artery
    ]
    for vx, vy, r, z0, z1 in vessels:
        b = c.box((vx - r, vy - r, z0), (vx + r, vy + r, z1))
        if b is not None:
            c.paint(b, BLOOD, _ellipse(b.x, b.y, vx, vy, r, r) < 1)
    _paint_capsule(c, (2.0, -22.0, 18.0), (22.0, sy - 16.0, 18.0), ((13.0, BLOOD),))  # aortic arch

    # Airways: trachea down to the carina (z = 0), then the two main bronchi; the oesophagus behind.
    tr_y = sy - 45.0
    b = c.box((-12.0, tr_y - 12.0, 0.0), (12.0, tr_y + 12.0, np.inf))
    if b is not None:
        trachea = _ellipse(b.x, b.y, 0.0, tr_y, 1.0, 1.0)
        c.paint(b, SOFT_TISSUE, trachea < 11.5**2)
        c.paint(b, AIR, trachea < 9.0**2)
    for side in (-1.0, 1.0):
        _paint_capsule(
            c, (0.0, tr_y, 0.0), (side * 40.0, tr_y + 8.0, -35.0), ((8.5, SOFT_TISSUE), (6.5, AIR))
        )
    b = c.box((-5.0, sy - 35.0, anatomy.dome_left - 20.0), (13.0, sy - 21.0, np.inf))
    if b is not None:
        oesophagus = _ellipse(b.x, b.y, 4.0, sy - 28.0, 8.0, 6.0)
        c.paint(b, MUSCLE, oesophagus < 1)
        c.paint(b, AIR, oesophagus < 0.06)

    # Spine: vertebral bodies with intervertebral discs every 26 mm, canal, laminae and spinous process.
    b = c.box((-20.0, sy - 18.0, -np.inf), (20.0, sy + 66.0, np.inf))
    if b is not None:
        vertebra = _ellipse(b.x, b.y, 0.0, sy, 18.0, 16.0)
        disc = np.mod(b.z + 7.0, 26.0) < 5.0
        c.paint(b, CORTICAL_BONE, vertebra < 1)
        c.paint(b, np.where(disc, DISC, CANCELLOUS_BONE).astype(np.float32), vertebra < 0.72)
        canal = _ellipse(b.x, b.y, 0.0, sy + 27.0, 1.0, 1.0)
        c.paint(b, 0.7 * CORTICAL_BONE, (canal < 14.0**2) & (sy + 20.0 < b.y))
        c.paint(b, 0.7 * CORTICAL_BONE, _ellipse(b.x, b.y, 0.0, sy + 50.0, 5.0, 14.0) < 1)
        c.paint(b, CSF, canal < 8.5**2)

    # Ribs: oblique bands of the chest wall (higher at the back), leaving the anterior midline to the
    # costal cartilages and the sternum.
    rib_phase = float(np.random.default_rng(anatomy.seed).uniform(0, 28))
    b = c.box((-ca - 10.0, cy - cb - 10.0, -200.0), (ca + 10.0, cy + cb + 10.0, top + 5.0))
    if b is not None:
        ring = (_ellipse(b.x, b.y, 0.0, cy, ca + 10.0, cb + 10.0) < 1) & (
            _ellipse(b.x, b.y, 0.0, cy, ca, cb) >= 1
        )
        ring &= (np.abs(b.x) > 30.0) | (cy < b.y)
        band = np.mod(b.z - 30.0 * (b.y - cy) / cb + rib_phase, 28.0)
        c.paint(
            b,
            np.where(np.abs(band - 5.5) < 3.0, CANCELLOUS_BONE, CORTICAL_BONE).astype(np.float32),
            ring & (band < 11.0),
        )
    for z0, z1, half_width in ((-150.0, 20.0, 17.0), (20.0, top - 10.0, 25.0)):  # sternal body, manubrium
        b = c.box((-half_width, cy - cb - 12.0, z0), (half_width, cy - cb + 4.0, z1))
        if b is not None:
            sternum = _ellipse(b.x, b.y, 0.0, cy - cb - 4.0, half_width, 8.0)
            c.paint(b, CORTICAL_BONE, sternum < 1)
            c.paint(b, CANCELLOUS_BONE, sternum < 0.45)

    # Clavicles and scapulae.
    for side in (-1.0, 1.0):
        _paint_capsule(
            c,
            (side * 18.0, cy - cb - 2.0, top - 15.0),
            (side * (ca + 5.0), cy - 0.3 * cb, top + 5.0),
            ((8.0, CORTICAL_BONE), (4.5, CANCELLOUS_BONE)),
        )
    b = c.box((-0.85 * ca, cy + 0.25 * cb, -60.0), (0.85 * ca, cy + cb + 26.0, top + 10.0))
    if b is not None:
        scapula = _ellipse(b.x, b.y, 0.0, cy, ca + 24.0, cb + 26.0)
        c.paint(b, 0.6 * CORTICAL_BONE, (scapula < 1) & (scapula > 0.93) & (np.abs(b.x) > 55.0))

    # Ground-glass opacities raise the lung background but leave denser vessels as they are.
    for opacity in anatomy.opacities:
        _paint_opacity(c, anatomy, opacity, lungs)

    # Partial-volume blur in plane, then image noise.
    img = c.img
    ndimage.gaussian_filter(img, sigma=(0.0, 0.6, 0.6), output=img)
    if noise:
        rng = np.random.default_rng([anatomy.seed, round(float(c.z[0]) * 100) & 0xFFFFFFFF, len(c.z)])
        img += rng.standard_normal(img.shape, dtype=np.float32) * NOISE_HU
    return img


def _paint_capsule(
    c: _Canvas,
    p0: tuple[float, float, float],
    p1: tuple[float, float, float],
    layers: tuple[tuple[float, float], ...],
) -> None:
    """Paint a tube around the segment ``p0``-``p1``: ``layers`` of (radius, value), outermost first."""
    b = c.box(*_segment_box(p0, p1, layers[0][0]))
    if b is None:
        return
    distance = _capsule(b.x, b.y, b.z, p0, p1)
    for radius, value in layers:
        c.paint(b, value, distance < radius)


def _lung_with_vessels(anatomy: ChestAnatomy, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Lung parenchyma with branching vessels, thicker towards the hila.

    A vessel is where two independent smooth random fields are both near zero: the intersection of two
    random surfaces is a set of random tubes, which in axial slices look like the dots and short branches
    of real pulmonary vessels.
    """
    fields = _lattice(anatomy.seed, 2, 1.1)
    n1 = _interpolate(fields[0], x, y, z)
    n2 = _interpolate(fields[1], x, y, z)
    gx = np.asarray(x, dtype=np.float32)[None, None, :]
    gy = np.asarray(y, dtype=np.float32)[None, :, None]
    gz = np.asarray(z, dtype=np.float32)[:, None, None]
    hilum = np.sqrt((np.abs(gx) - 45.0) ** 2 + (gy - anatomy.spine_y + 40.0) ** 2 + (gz + 20.0) ** 2)
    width = 0.12 + 0.3 * np.exp(-hilum / 50.0)
    n1 *= n1
    n2 *= n2
    n1 += n2
    n1 /= -(width * width)
    vessel = np.exp(n1, out=n1)
    vessel *= BLOOD - LUNG
    vessel += LUNG
    return vessel


def _paint_opacity(c: _Canvas, anatomy: ChestAnatomy, opacity: Opacity, lungs: np.ndarray) -> None:
    """Raise the lung inside one opacity's bounding box towards its Hounsfield value."""
    (ox, oy, oz), (rx, ry, rz) = opacity.center, opacity.radii
    b = c.box((ox - 1.4 * rx, oy - 1.4 * ry, oz - 1.4 * rz), (ox + 1.4 * rx, oy + 1.4 * ry, oz + 1.4 * rz))
    if b is None:
        return
    r2 = ((b.x - ox) / rx) ** 2 + ((b.y - oy) / ry) ** 2 + ((b.z - oz) / rz) ** 2
    # An irregular, patchy edge: modulate the radius with a smooth random field.
    wobble = _interpolate(_lattice(anatomy.seed, 2, 1.1)[0], b.x.ravel(), b.y.ravel(), b.z.ravel())
    weight = np.clip(1.3 - r2 + 0.35 * wobble, 0.0, 1.0)
    block = c.img[b.slices]
    target = LUNG + weight * (opacity.hu - LUNG)
    np.copyto(block, np.maximum(block, target), where=lungs[b.slices])


def chest_radiograph(anatomy: ChestAnatomy, size: int = 1024, field_mm: float = 430.0) -> np.ndarray:
    """A postero-anterior chest radiograph: the chest's attenuation integrated front to back.

    Parameters
    ----------
    anatomy
        The patient.
    size
        Rows and columns of the detector image.
    field_mm
        Width and height of the field of view.

    Returns
    -------
    numpy.ndarray
        uint16 array ``(size, size)``, 12-bit values, MONOCHROME2 (bone and soft tissue bright, lungs dark);
        row 0 is the top (head), column 0 the patient's right.
    """
    coarse = 256
    half = field_mm / 2.0
    x = np.linspace(-half, half, coarse, dtype=np.float32)
    z = np.linspace(anatomy.apex_z + 110.0, anatomy.apex_z + 110.0 - field_mm, coarse, dtype=np.float32)
    y = np.arange(-140.0, 140.0, 2.5, dtype=np.float32)
    path = np.zeros((coarse, coarse), dtype=np.float32)
    for chunk in np.array_split(np.arange(coarse), 8):  # slabs keep memory small
        hu = chest_hu(anatomy, x, y, z[chunk], arms=True, noise=False)
        mu = np.clip(_MU_WATER * (1.0 + hu / 1000.0), 0.0, None)
        path[chunk] = mu.sum(axis=1) * 2.5
    image = ndimage.zoom(path, size / coarse, order=1)
    image = 4095.0 * np.clip(image / 7.0, 0.0, 1.0) ** 0.8  # log exposure: denser is brighter
    rng = np.random.default_rng([anatomy.seed, 7])
    image += rng.standard_normal(image.shape, dtype=np.float32) * 12.0
    return np.clip(image, 0, 4095).astype(np.uint16)


def brain_t2(seed: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """A T2-weighted brain (CSF bright, white matter darker than grey matter, skull dark).

    Parameters
    ----------
    seed
        Seeds the gyral pattern and the noise.
    x, y, z
        1-D LPS coordinates (mm); the head is centred at the origin, the vertex near ``z = 85``.

    Returns
    -------
    numpy.ndarray
        uint16 array of shape ``(len(z), len(y), len(x))``.
    """
    gx = np.asarray(x, dtype=np.float32)[None, None, :]
    gy = np.asarray(y, dtype=np.float32)[None, :, None]
    gz = np.asarray(z, dtype=np.float32)[:, None, None]
    shape = (gz.shape[0], gy.shape[1], gx.shape[2])
    img = np.zeros(shape, dtype=np.float32)

    def paint(value: float, where: np.ndarray) -> None:
        np.copyto(img, np.float32(value), where=np.broadcast_to(where, shape))

    def head(margin: float) -> np.ndarray:  # normalised radius of the head ellipsoid shrunk by margin (mm)
        return (
            (gx / (74.0 - margin)) ** 2
            + ((gy - 5.0) / (95.0 - margin)) ** 2
            + ((gz - 5.0) / (82.0 - margin)) ** 2
        )

    paint(650.0, head(0.0) < 1)  # scalp
    paint(40.0, head(6.0) < 1)  # skull
    paint(1900.0, head(13.0) < 1)  # CSF over the brain
    gyri = _interpolate(_lattice(seed, 1, 1.0)[0], x, y, z)
    brain = head(16.0)
    paint(1050.0, brain < 1)  # cortex
    paint(1900.0, (brain < 1) & (brain > 0.72) & (gyri > 0.9))  # sulci
    paint(760.0, head(21.0 + 3.0 * np.clip(gyri, -1, 1)) < 1)  # white matter
    paint(1900.0, (np.abs(gx) < 1.5) & (gz > 10.0) & (brain < 1))  # interhemispheric fissure
    for side in (-1.0, 1.0):
        paint(
            980.0, ((gx - side * 20.0) / 12.0) ** 2 + ((gy - 8.0) / 18.0) ** 2 + ((gz - 5.0) / 13.0) ** 2 < 1
        )
        ventricle = ((gx - side * 11.0) / 7.0) ** 2 + ((gy + 2.0) / 32.0) ** 2 + ((gz - 22.0) / 11.0) ** 2
        paint(1900.0, ventricle < 1)
    paint(
        1900.0, (gx / 2.5) ** 2 + ((gy - 8.0) / 12.0) ** 2 + ((gz - 5.0) / 10.0) ** 2 < 1
    )  # third ventricle
    ndimage.gaussian_filter(img, sigma=(0.0, 0.7, 0.7), output=img)
    rng = np.random.default_rng([seed, 11])
    img += np.abs(rng.standard_normal(shape, dtype=np.float32)) * 25.0  # Rician-like background
    return np.clip(img, 0, 4095).astype(np.uint16)
