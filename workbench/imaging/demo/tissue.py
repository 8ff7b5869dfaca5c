"""Synthetic H&E-stained tissue: deterministic RGB images with known tumour masks.

Colours follow the optical-density model of stain separation (Ruifrok and Johnston): each pixel is
``255 * exp(-(h * H + e * E))`` with the haematoxylin and eosin vectors ``H``, ``E`` and per-pixel stain
amounts ``h`` (nuclei) and ``e`` (cytoplasm and stroma). Tissue is an irregular blob on a bright
background; normal tissue has sparse, small, round nuclei in pink stroma with fibre texture; tumour regions
have crowded, large, dark, irregular nuclei and less eosin. Everything is drawn from one seed.

The tumour mask is defined on a coarse grid (:data:`MASK_CELL` level-0 pixels per mask pixel), and the
image is rendered from that grid, so that the mask is exact at its own resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK_CELL = 16
"""Level-0 pixels per side of one tumour-mask (and tissue-mask) pixel."""
HEMATOXYLIN = np.array([0.65, 0.70, 0.29], dtype=np.float32)
EOSIN = np.array([0.07, 0.99, 0.11], dtype=np.float32)


@dataclass(frozen=True)
class Tissue:
    """A rendered slide.

    Attributes
    ----------
    image
        ``(height, width, 3)`` uint8 RGB, level 0.
    tissue
        ``(height // MASK_CELL, width // MASK_CELL)`` bool: tissue present.
    tumour
        Same shape, bool: tumour (always inside the tissue).
    """

    image: np.ndarray
    tissue: np.ndarray
    tumour: np.ndarray


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Noise in [0, 1] with features about ``cells`` pixels across, at ``shape``."""
    from scipy.ndimage import zoom

    coarse = rng.random((shape[0] // cells + 3, shape[1] // cells + 3)).astype(np.float32)
    fine = zoom(coarse, cells, order=3)[: shape[0], : shape[1]]
    low, high = float(fine.min()), float(fine.max())
    return (fine - low) / max(high - low, 1e-6)


def masks(seed: int, shape: tuple[int, int], tumours: int) -> tuple[np.ndarray, np.ndarray]:
    """Tissue and tumour masks on the coarse grid, ``shape`` being the grid's ``(rows, columns)``."""
    rng = np.random.default_rng([seed, 1])
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2 + rng.uniform(-0.05, 0.05) * rows, cols / 2 + rng.uniform(-0.05, 0.05) * cols
    ry, rx = rows * rng.uniform(0.36, 0.44), cols * rng.uniform(0.36, 0.44)
    envelope = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    tissue = envelope + 0.9 * (_smooth_noise(rng, shape, max(4, rows // 6)) - 0.5) < 1.0
    tumour = np.zeros(shape, dtype=bool)
    noise = _smooth_noise(rng, shape, max(3, rows // 12))
    for _ in range(tumours):
        inside = np.argwhere(envelope < 0.45)
        ty, tx = inside[rng.integers(len(inside))]
        sy, sx = rows * rng.uniform(0.10, 0.18), cols * rng.uniform(0.08, 0.15)
        blob = ((yy - ty) / sy) ** 2 + ((xx - tx) / sx) ** 2 + 0.8 * (noise - 0.5)
        tumour |= blob < 1.0
    return tissue, tumour & tissue


def render(seed: int, width: int, height: int, tumours: int) -> Tissue:
    """Render one slide.

    Parameters
    ----------
    seed
        Everything follows from it.
    width, height
        Level-0 size in pixels (multiples of :data:`MASK_CELL`).
    tumours
        Tumour regions (0 for a normal slide).

    Returns
    -------
    Tissue

    Raises
    ------
    ValueError
        A size that is not a positive multiple of :data:`MASK_CELL`.
    """
    from scipy.ndimage import gaussian_filter, zoom

    if width % MASK_CELL or height % MASK_CELL or width <= 0 or height <= 0:
        raise ValueError(f"slide size must be positive multiples of {MASK_CELL}, got {width}x{height}")
    grid = (height // MASK_CELL, width // MASK_CELL)
    tissue, tumour = masks(seed, grid, tumours)
    rng = np.random.default_rng([seed, 2])
    # soft masks at full resolution (edges blurred over a few micrometres)
    soft_tissue = np.clip(zoom(gaussian_filter(tissue.astype(np.float32), 0.7), MASK_CELL, order=1), 0, 1)
    soft_tumour = np.clip(zoom(gaussian_filter(tumour.astype(np.float32), 0.5), MASK_CELL, order=1), 0, 1)
    shape = (height, width)
    # nuclei: seeded points, blurred into blobs; tumour nuclei crowded and larger
    normal_points = (rng.random(shape, dtype=np.float32) < 0.0009) * (1 - soft_tumour)
    tumour_points = (rng.random(shape, dtype=np.float32) < 0.0045) * soft_tumour
    nuclei = gaussian_filter(normal_points, 2.2) * 40.0 + gaussian_filter(tumour_points, 3.6) * 95.0
    nuclei = np.clip(nuclei, 0, 1.6)
    fibres = gaussian_filter(rng.random(shape, dtype=np.float32), (1.0, 6.0))
    fibres = (fibres - fibres.mean()) * 6.0
    h = soft_tissue * (0.04 + nuclei * (1.0 + 0.25 * soft_tumour))
    e = soft_tissue * np.clip(0.45 + 0.3 * fibres - 0.25 * soft_tumour, 0.05, 1.2)
    density = h[..., None] * HEMATOXYLIN + e[..., None] * EOSIN + 0.03
    image = np.clip(255.0 * np.exp(-density), 0, 255).astype(np.uint8)
    return Tissue(image=image, tissue=tissue, tumour=tumour)
