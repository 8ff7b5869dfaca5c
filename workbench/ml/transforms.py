"""MONAI transforms that load a series from the archive by its UID.

:class:`LoadSeriesd` stands where ``LoadImaged`` stands in a MONAI pipeline: its key holds a
SeriesInstanceUID instead of a file name, and it yields the ``MetaTensor`` that
``LoadImage(reader="PydicomReader")`` gives for the same series on disk: the same array (spatial axes
``(i, j, k)`` = column, row, slice), the same RAS ``affine``/``original_affine``, ``spatial_shape``,
``original_channel_dim`` (no channel), ``space`` and ``spacing``. ``filename_or_obj`` is the series UID, so
``SaveImage`` names its outputs after the series. Identifying metadata of the series (``patient_id``,
``study_uid``, ``series_uid``, ``modality``) rides along in the meta dict.

Pixels come through :meth:`workbench.imaging.Archive.load_series`, so slices are ordered by position and a
second load comes from the workbench's on-disk cache.

Dimensions
----------
``spatial_dims=3`` (the default) accepts cross-sectional series only: a series without patient geometry
(ImagePositionPatient / ImageOrientationPatient, e.g. a Secondary Capture) or with a single image (a
radiograph) raises :class:`SeriesLoadError` saying so. ``spatial_dims=2`` is the 2D path: a single image
(CR, DX, a screenshot) becomes an ``(x, y)`` tensor; its affine carries the pixel spacing (PixelSpacing or
ImagerPixelSpacing) and, when the image has no patient geometry, an identity orientation and a zero origin.
A series with several images is refused there.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from monai.config import DtypeLike, KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import MetaKeys, SpaceKeys

from workbench.errors import DicomDataError, WorkbenchError

if TYPE_CHECKING:
    from monai.transforms import Compose

    from workbench.imaging import Archive, Volume

logger = logging.getLogger(__name__)

METADATA_KEYS = ("patient_id", "study_uid", "series_uid", "modality")
"""Identifying fields of ``Volume.metadata`` copied into the MetaTensor's meta dict (strings collate well)."""

class SeriesLoadError(DicomDataError):
    """A series could not be loaded as asked; the message and :attr:`series_uid` name it.

    Parameters
    ----------
    series_uid
        The SeriesInstanceUID that failed.
    reason
        What went wrong, for people.
    """

    def __init__(self, series_uid: str, reason: str) -> None:
        super().__init__(f"series {series_uid}: {reason}")
        self.series_uid = series_uid
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across DataLoader worker processes
        return (type(self), (self.series_uid, self.reason))


def volume_to_metatensor(
    volume: Volume,
    *,
    spatial_dims: int = 3,
    dtype: DtypeLike = np.float32,
    series_uid: str | None = None,
) -> MetaTensor:
    """Turn a :class:`workbench.imaging.Volume` into the MetaTensor MONAI's DICOM readers produce.

    Parameters
    ----------
    volume
        A loaded series: ``array`` (z, y, x), ``affine_ras`` ((i, j, k, 1) -> RAS mm), ``metadata``.
    spatial_dims
        3 for a volume (at least two slices with patient geometry), 2 for a single image.
    dtype
        Data type of the tensor (``None`` keeps the volume's).
    series_uid
        Name used in errors and as ``filename_or_obj``; default ``volume.metadata["series_uid"]``.

    Returns
    -------
    monai.data.MetaTensor
        Shape ``(x, y, z)`` (or ``(x, y)``), no channel dimension, meta dict with ``affine``,
        ``original_affine``, ``spatial_shape``, ``original_channel_dim`` (NaN: no channel), ``space`` ("RAS"),
        ``spacing``, ``filename_or_obj`` and the identifying fields in :data:`METADATA_KEYS`.

    Raises
    ------
    SeriesLoadError
        The series cannot be used with ``spatial_dims`` (no geometry, a single image in 3D, several in 2D,
        colour images).
    ValueError
        ``spatial_dims`` is neither 2 nor 3.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    info = dict(volume.metadata or {})
    uid = series_uid or str(info.get("series_uid", "?"))
    array = np.asarray(volume.array)
    modality = info.get("modality") or "?"
    if array.ndim != 3:
        raise SeriesLoadError(
            uid, f"{modality} images of shape {array.shape} are not grey-level; colour is not supported"
        )
    n_images = array.shape[0]
    if spatial_dims == 3:
        if n_images < 2:
            raise SeriesLoadError(
                uid,
                f"a single {modality} image of {array.shape[-1]}x{array.shape[-2]} pixels is not a volume; "
                "a 3D pipeline needs a CT/MR/PET series with several slices "
                "(use spatial_dims=2 for 2D images)",
            )
        if not _has_geometry(volume):
            raise SeriesLoadError(
                uid,
                f"the {modality} images carry no patient geometry (ImagePositionPatient and "
                "ImageOrientationPatient missing, e.g. a Secondary Capture), so they cannot be placed "
                "in space for a 3D pipeline",
            )
        data = array.transpose(2, 1, 0)  # (z, y, x) -> (i, j, k), as MONAI's readers lay it out
        affine = np.asarray(volume.affine_ras, dtype=np.float64)
    else:
        if n_images != 1:
            raise SeriesLoadError(
                uid, f"{n_images} images: the 2D path takes a single image; use spatial_dims=3 for a volume"
            )
        data = array[0].T
        affine = np.asarray(volume.affine_ras, dtype=np.float64)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    shape = tuple(int(s) for s in data.shape)
    meta: dict[str, Any] = {
        MetaKeys.ORIGINAL_AFFINE: affine,
        MetaKeys.AFFINE: affine.copy(),
        MetaKeys.SPATIAL_SHAPE: shape,
        MetaKeys.ORIGINAL_CHANNEL_DIM: float("nan"),
        MetaKeys.SPACE: SpaceKeys.RAS,
        "spacing": np.sqrt((affine[:3, :spatial_dims] ** 2).sum(axis=0)),
        "filename_or_obj": uid,
    }
    meta.update({key: str(info[key]) for key in METADATA_KEYS if info.get(key) is not None})
    return MetaTensor(np.ascontiguousarray(data), meta=meta)


def metatensor_to_volume(image: Any) -> Volume:
    """Turn a 3D image as a MONAI pipeline gives it (``(C, i, j, k)`` or ``(i, j, k)``, RAS affine) back into
    a :class:`workbench.imaging.Volume` (first channel), e.g. to draw a network input with
    :mod:`workbench.imaging.view`.

    Parameters
    ----------
    image
        A MetaTensor (its ``affine`` maps (i, j, k) voxel indices to RAS millimetres).

    Returns
    -------
    Volume
    """
    from workbench.imaging.volume import Volume, xyz

    array = np.asarray(image.detach().cpu().numpy() if hasattr(image, "detach") else image)
    if array.ndim == 4:
        array = array[0]
    affine = np.asarray(image.affine, dtype=np.float64)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    return Volume(
        array=array.transpose(2, 1, 0),  # (i, j, k) -> (z, y, x)
        spacing=xyz(spacing),
        origin=xyz(lps[:3, 3]),
        direction=lps[:3, :3] / spacing,
        metadata={"series_uid": str(getattr(image, "meta", {}).get("filename_or_obj", ""))},
    )


def _has_geometry(volume: Volume) -> bool:
    """Whether the volume's placement came from the images (``Volume`` marks placeholders "unknown")."""
    return volume.metadata.get("geometry") != "unknown"


class LoadSeries(Transform):
    """Load one series from the archive as a MONAI ``MetaTensor``; the input is a SeriesInstanceUID.

    Parameters
    ----------
    archive
        A :class:`workbench.imaging.Archive`. Default: ``workbench.imaging.connect()`` on first use (settings
        from the environment or the config file), which also keeps the transform picklable for
        DataLoader worker processes.
    spatial_dims
        3 (volumes, the default) or 2 (single images); see the module docstring.
    dtype
        Data type of the tensor (float32 like ``LoadImage``; ``None`` keeps the volume's).
    image_only
        Return only the MetaTensor (MONAI's default); ``False`` returns ``(tensor, meta dict)`` like
        ``LoadImage(image_only=False)``.
    ensure_channel_first
        Add a leading channel dimension, as ``LoadImage(ensure_channel_first=True)``.
    progress
        Show the archive's progress bar while loading.

    Raises
    ------
    SeriesLoadError
        When called on a series that does not exist, cannot be decoded or does not fit ``spatial_dims``; the
        message names the series and the cause.

    Examples
    --------
    >>> load = LoadSeries(archive)                                       # doctest: +SKIP
    >>> image = load("1.2.392.200036.9116.2.6.1.48.1214245415.1234.1")   # doctest: +SKIP
    >>> image.shape, image.affine                                        # doctest: +SKIP
    """

    def __init__(
        self,
        archive: Archive | None = None,
        *,
        spatial_dims: int = 3,
        dtype: DtypeLike = np.float32,
        image_only: bool = True,
        ensure_channel_first: bool = False,
        progress: bool = False,
    ) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        self._archive = archive
        self._connected_here = archive is None
        self.spatial_dims = spatial_dims
        self.dtype = dtype
        self.image_only = image_only
        self.ensure_channel_first = ensure_channel_first
        self.progress = progress

    @property
    def archive(self) -> Archive:
        """The archive series are read from (connected on first use when none was given)."""
        if self._archive is None:
            from workbench.imaging import connect

            self._archive = connect()
        return self._archive

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._connected_here:  # reconnect from the settings in the worker rather than pickle a session
            state["_archive"] = None
        return state

    def __call__(self, series_uid: str) -> MetaTensor | tuple[MetaTensor, dict[str, Any]]:
        """Load ``series_uid``; see the class docstring."""
        uid = _as_uid(series_uid)
        try:
            volume = self.archive.load_series(uid, progress=self.progress)
        except WorkbenchError as exc:
            raise SeriesLoadError(uid, str(exc)) from exc
        image = volume_to_metatensor(volume, spatial_dims=self.spatial_dims, dtype=self.dtype, series_uid=uid)
        if self.ensure_channel_first:
            from monai.transforms import EnsureChannelFirst

            image = EnsureChannelFirst()(image)  # type: ignore[assignment]  # a MetaTensor in and out
        if self.image_only:
            return image
        return image, image.meta


class LoadSeriesd(MapTransform):
    """Dictionary version of :class:`LoadSeries`: each key holds a SeriesInstanceUID, replaced by its image.

    Parameters
    ----------
    keys
        Keys of the items holding series UIDs (``"image"``).
    archive, spatial_dims, dtype, ensure_channel_first, progress
        As for :class:`LoadSeries`.
    image_only
        ``True`` (MONAI's default) stores the MetaTensor only; ``False`` also stores its meta dict under
        ``f"{key}_{meta_key_postfix}"``, as ``LoadImaged(image_only=False)`` does.
    meta_key_postfix
        Suffix of the meta-dict key when ``image_only`` is ``False``.
    allow_missing_keys
        Skip keys that an item lacks instead of raising ``KeyError``.

    Examples
    --------
    >>> from monai.transforms import Compose, EnsureChannelFirstd, Orientationd
    >>> pipeline = Compose([LoadSeriesd("image", archive), EnsureChannelFirstd("image"),
    ...                     Orientationd("image", axcodes="RAS")])            # doctest: +SKIP
    >>> pipeline({"image": series_uid, "label": 1})["image"].shape          # doctest: +SKIP
    """

    def __init__(
        self,
        keys: KeysCollection,
        archive: Archive | None = None,
        *,
        spatial_dims: int = 3,
        dtype: DtypeLike = np.float32,
        image_only: bool = True,
        ensure_channel_first: bool = False,
        meta_key_postfix: str = "meta_dict",
        progress: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadSeries(
            archive,
            spatial_dims=spatial_dims,
            dtype=dtype,
            image_only=True,
            ensure_channel_first=ensure_channel_first,
            progress=progress,
        )
        self.image_only = image_only
        self.meta_key_postfix = meta_key_postfix

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Load every key's series; other entries of the item pass through unchanged."""
        out = dict(data)
        for key in self.key_iterator(out):
            image = self.loader(out[key])
            out[key] = image
            if not self.image_only:
                out[f"{key}_{self.meta_key_postfix}"] = image.meta  # type: ignore[union-attr]
        return out


def _as_uid(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise SeriesLoadError(
        str(value), f"expected a SeriesInstanceUID string, got {type(value).__name__} {value!r}"
    )


def classification_transforms(
    archive: Archive | None = None,
    *,
    image_size: int | Sequence[int] = 48,
    window: tuple[float, float] = (-1000.0, 200.0),
    pixdim: Sequence[float] | None = None,
    augment: bool = False,
    keys: Sequence[str] = ("image",),
) -> Compose:
    """The standard MONAI pipeline for whole-volume classification, starting from series UIDs.

    ``LoadSeriesd`` -> ``EnsureChannelFirstd`` -> ``Orientationd("RAS")`` -> ``Spacingd`` (when ``pixdim``) ->
    ``ScaleIntensityRanged`` (window to [0, 1], clipped) -> ``Resized`` (area averaging) -> ``RandFlipd`` on
    every axis (when ``augment``). Only MONAI's own transforms follow the loader, so ``CacheDataset`` caches
    everything up to the first random one.

    Parameters
    ----------
    archive
        Passed to :class:`LoadSeriesd` (default: connect from the settings on first use).
    image_size
        Edge length (or ``(x, y, z)``) of the network input.
    window
        Intensity range in modality units (HU for CT) mapped to [0, 1]; the default spans lung to soft tissue.
    pixdim
        Resample to this voxel size in mm first (``None``: resize directly).
    augment
        Add random flips (training only).
    keys
        Keys holding series UIDs.

    Returns
    -------
    monai.transforms.Compose
    """
    from monai.transforms import (
        Compose,
        EnsureChannelFirstd,
        Orientationd,
        RandFlipd,
        Resized,
        ScaleIntensityRanged,
        Spacingd,
    )

    size = (image_size,) * 3 if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"image_size must be a positive int or three of them, got {image_size!r}")
    low, high = window
    if not high > low:
        raise ValueError(f"window must be (low, high) with high > low, got {window!r}")
    steps: list[Any] = [
        LoadSeriesd(keys, archive),
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS"),
    ]
    if pixdim is not None:
        steps.append(Spacingd(keys, pixdim=tuple(pixdim), mode="bilinear"))
    steps += [
        ScaleIntensityRanged(keys, a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True),
        Resized(keys, spatial_size=size, mode="area"),
    ]
    if augment:
        steps += [RandFlipd(keys, prob=0.5, spatial_axis=axis) for axis in range(3)]
    return Compose(steps)


__all__ = [
    "METADATA_KEYS",
    "LoadSeries",
    "LoadSeriesd",
    "SeriesLoadError",
    "classification_transforms",
    "volume_to_metatensor",
]
