"""Patches of whole-slide images for MONAI: grid or random patches on tissue, labelled from masks.

:func:`patch_items` turns slides into the list of dicts MONAI's ``Dataset``, ``CacheDataset`` and
``DataLoader`` take: one dict per patch with its slide, level-0 location, level and size, its tissue and
mask fractions and its label. :class:`ReadPatchd` (a MONAI ``MapTransform``) reads the pixels as a
channel-first float array in [0, 1] when the dataset asks, through the archive's slide reader (only the tiles
the patch needs, cached); MONAI's 2D dictionary transforms (flips, rotations, intensity) follow it.

Background is dropped with a tissue mask from a coarse level (:func:`tissue_mask`: Otsu's threshold on
saturation, the usual first step of H&E pipelines). :func:`make_patch_classifier` is a small MONAI CNN that
trains on CPU in a minute or two; :func:`heatmap` puts patch probabilities back on the slide's grid.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from monai.transforms import MapTransform

if TYPE_CHECKING:
    import torch

    from workbench.imaging.slides import Slide

logger = logging.getLogger(__name__)

MIN_SATURATION = 0.05
"""Tissue threshold floor: Otsu's threshold on a slide without tissue would split noise."""


def tissue_mask(slide: Slide, level: int = -1) -> tuple[np.ndarray, float]:
    """Tissue (True) versus bright background, from one level of the slide.

    Parameters
    ----------
    slide
        An open slide.
    level
        The level read whole (default the coarsest).

    Returns
    -------
    tuple
        The ``(rows, columns)`` bool mask and its downsample relative to level 0.
    """
    lvl = slide.level(level)
    rgb = slide.read_level_region(lvl.index, 0, 0, lvl.width, lvl.height).astype(np.float32) / 255.0
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
    threshold = max(_otsu(saturation), MIN_SATURATION)
    return saturation > threshold, lvl.downsample


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    """Otsu's threshold of values in [0, 1]."""
    histogram, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    weights = histogram.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(weights)
    w1 = w0[-1] - w0
    m0 = np.cumsum(weights * centres)
    mean0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mean1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(centres[int(np.argmax(between))])


def _fraction(mask: np.ndarray, mask_downsample: float, x: int, y: int, extent: int) -> float:
    """Share of the level-0 square ``(x, y, extent)`` that ``mask`` covers."""
    rows, cols = mask.shape
    r0, c0 = int(y / mask_downsample), int(x / mask_downsample)
    r1 = max(r0 + 1, int(np.ceil((y + extent) / mask_downsample)))
    c1 = max(c0 + 1, int(np.ceil((x + extent) / mask_downsample)))
    window = mask[max(r0, 0) : min(r1, rows), max(c0, 0) : min(c1, cols)]
    return float(window.mean()) if window.size else 0.0


def patch_items(
    slides: Sequence[Slide],
    *,
    level: int = 1,
    size: int = 128,
    mode: str = "grid",
    stride: int | None = None,
    n_random: int = 64,
    min_tissue: float = 0.5,
    masks: Mapping[str, np.ndarray] | Callable[[str], np.ndarray | None] | None = None,
    label_threshold: float = 0.5,
    classes: Sequence[str] = ("normal", "tumour"),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Patches of ``slides`` as MONAI data dicts.

    Parameters
    ----------
    slides
        Open slides (``archive.open_slide(uid)``).
    level
        Pyramid level the patches are read from.
    size
        Patch side in pixels of that level.
    mode
        ``"grid"`` (every patch of a grid of ``stride``) or ``"random"`` (``n_random`` patches per slide at
        random tissue positions, seeded).
    stride
        Grid step in pixels of the level (default ``size``: no overlap).
    n_random
        Patches per slide in ``"random"`` mode.
    min_tissue
        Patches with less tissue than this share are dropped.
    masks
        Per slide series UID, a bool mask of the positive class covering the whole slide at any resolution
        (or a function giving it, ``None`` for none); patches whose covered share is at least
        ``label_threshold`` get label 1 (``classes[1]``), others 0. Without masks, items carry no label.
    label_threshold
        See ``masks``.
    classes
        Names of label 0 and 1.
    seed
        Random positions in ``"random"`` mode.

    Returns
    -------
    list of dict
        ``image`` (the series UID, read by :class:`ReadPatchd`), ``series_uid``, ``patient_id``,
        ``study_uid``,
        ``location`` (level-0 ``(x, y)``), ``level``, ``size``, ``tissue``, and with masks ``mask_fraction``,
        ``label`` and ``class``.

    Raises
    ------
    ValueError
        An unknown mode, or a size or stride that is not positive.
    """
    if mode not in ("grid", "random"):
        raise ValueError(f"mode must be 'grid' or 'random', got {mode!r}")
    stride = stride or size
    if size < 1 or stride < 1:
        raise ValueError(f"size and stride must be positive, got {size} and {stride}")
    rng = np.random.default_rng(seed)
    items: list[dict[str, Any]] = []
    for slide in slides:
        lvl = slide.level(level)
        tissue, tissue_ds = tissue_mask(slide)
        mask = masks(slide.series_uid) if callable(masks) else (masks or {}).get(slide.series_uid)
        mask_ds = slide.dimensions[0] / mask.shape[1] if mask is not None else 1.0
        extent = round(size * lvl.downsample)  # the patch in level-0 pixels
        if mode == "grid":
            xs = range(0, lvl.width - size + 1, stride)
            ys = range(0, lvl.height - size + 1, stride)
            positions = [(int(x * lvl.downsample), int(y * lvl.downsample)) for y in ys for x in xs]
        else:
            rows, cols = np.nonzero(tissue)
            picks = rng.integers(0, len(rows), n_random * 4) if len(rows) else np.array([], dtype=int)
            positions = []
            for pick in picks:
                x = int(cols[pick] * tissue_ds) - extent // 2
                y = int(rows[pick] * tissue_ds) - extent // 2
                x = min(max(x, 0), slide.dimensions[0] - extent)
                y = min(max(y, 0), slide.dimensions[1] - extent)
                positions.append((x, y))
        kept = 0
        for x, y in positions:
            share = _fraction(tissue, tissue_ds, x, y, extent)
            if share < min_tissue:
                continue
            item: dict[str, Any] = {
                "image": slide.series_uid,
                "series_uid": slide.series_uid,
                "patient_id": slide.description.patient_id,
                "study_uid": slide.study_uid,
                "location": (x, y),
                "level": lvl.index,
                "size": size,
                "tissue": round(share, 4),
            }
            if mask is not None:
                fraction = _fraction(mask.astype(bool), mask_ds, x, y, extent)
                item["mask_fraction"] = round(fraction, 4)
                item["label"] = int(fraction >= label_threshold)
                item["class"] = classes[item["label"]]
            items.append(item)
            kept += 1
            if mode == "random" and kept >= n_random:
                break
        logger.info("slide %s: %d patches of %d kept", slide.series_uid, kept, len(positions))
    return items


class ReadPatchd(MapTransform):
    """A MONAI dictionary transform: the patch an item names, as ``(3, size, size)`` float32 in [0, 1].

    Parameters
    ----------
    archive
        Where the slides are; each slide is opened once per transform (and process).
    keys
        The key that holds the series UID and receives the pixels.
    """

    def __init__(self, archive: Any, keys: str = "image") -> None:
        super().__init__(keys)
        self.archive = archive
        self.key = keys
        self._slides: dict[str, Slide] = {}
        self._lock = threading.Lock()

    def slide(self, series_uid: str) -> Slide:
        """The open slide of ``series_uid``."""
        with self._lock:
            if series_uid not in self._slides:
                self._slides[series_uid] = self.archive.open_slide(series_uid)
            return self._slides[series_uid]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        item = dict(data)
        slide = self.slide(str(item["series_uid"]))
        size = int(item["size"])
        pixels = slide.read_region(tuple(item["location"]), int(item["level"]), (size, size))
        item[self.key] = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0
        return item


def patch_transforms(archive: Any, *, train: bool, output_size: int | None = None) -> Any:
    """A MONAI ``Compose``: :class:`ReadPatchd`, optional resizing, and flips/rotations when training."""
    from monai.transforms import Compose, RandFlipd, RandRotate90d, Resized, ToTensord

    steps: list[Any] = [ReadPatchd(archive)]
    if output_size:
        steps.append(Resized(keys="image", spatial_size=(output_size, output_size), mode="area"))
    if train:
        steps += [
            RandFlipd(keys="image", prob=0.5, spatial_axis=0),
            RandFlipd(keys="image", prob=0.5, spatial_axis=1),
            RandRotate90d(keys="image", prob=0.5),
        ]
    steps.append(ToTensord(keys="image", track_meta=False))
    return Compose(steps)


def make_patch_classifier(size: int = 64, n_classes: int = 2) -> torch.nn.Module:
    """A small MONAI CNN for RGB patches of ``size`` pixels (``monai.networks.nets.Classifier``)."""
    from monai.networks.nets import Classifier

    return Classifier(
        in_shape=(3, size, size), classes=n_classes, channels=(16, 32, 64), strides=(2, 2, 2), dropout=0.1
    )


def heatmap(items: Sequence[Mapping[str, Any]], probabilities: Sequence[float], slide: Slide) -> np.ndarray:
    """Patch probabilities on the slide's patch grid (NaN where no patch was scored).

    Parameters
    ----------
    items
        Patches of one slide (from :func:`patch_items`, ``"grid"`` mode), in the order of ``probabilities``.
    probabilities
        One score per item.
    slide
        The slide.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)`` float; cell ``(r, c)`` is the patch at ``(c * extent, r * extent)`` in level-0
        pixels, ``extent`` being the patch side at level 0. Covers the slide's extent as
        ``plt.imshow(..., extent=(0, width, height, 0))`` shows it.

    Raises
    ------
    ValueError
        The lengths differ or an item is from another slide.
    """
    if len(items) != len(probabilities):
        raise ValueError(f"{len(items)} items but {len(probabilities)} probabilities")
    if not items:
        return np.full((1, 1), np.nan)
    first = items[0]
    extent = round(int(first["size"]) * slide.level(int(first["level"])).downsample)
    width, height = slide.dimensions
    grid = np.full((int(np.ceil(height / extent)), int(np.ceil(width / extent))), np.nan)
    for item, probability in zip(items, probabilities, strict=True):
        if item["series_uid"] != slide.series_uid:
            raise ValueError(f"item of slide {item['series_uid']} given for slide {slide.series_uid}")
        x, y = item["location"]
        grid[int(y) // extent, int(x) // extent] = float(probability)
    return grid


def patch_table(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Items as a table (one row per patch, ``x`` and ``y`` split out of ``location``)."""
    frame = pd.DataFrame([{k: v for k, v in item.items() if k != "image"} for item in items])
    if not frame.empty:
        frame[["x", "y"]] = pd.DataFrame(frame.pop("location").tolist(), index=frame.index)
    return frame
