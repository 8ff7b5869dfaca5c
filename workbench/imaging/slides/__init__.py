"""Whole-slide images (WSI): VL Whole Slide Microscopy pyramids in the archive, read tile by tile.

>>> archive = workbench.imaging.connect()                                   # doctest: +SKIP
>>> archive.slides(patient_name="*山田*")                  # one row per slide: levels, size, µm/pixel, stain
>>> slide = archive.open_slide(series_uid)
>>> slide.read_region((4096, 2048), 1, (512, 512))       # (512, 512, 3) uint8, only the frames it needs

Modules: :mod:`~workbench.imaging.slides.pyramid` (the tile layout from metadata),
:mod:`~workbench.imaging.slides.slide` (``Slide``, ``open_slide``, ``slides_table``),
:mod:`~workbench.imaging.slides.source` (WADO-RS on either archive kind),
:mod:`~workbench.imaging.slides.frames` (tile decoding, frame cache),
:mod:`~workbench.imaging.slides.build` (writing slides as DICOM), :mod:`~workbench.imaging.slides.view`
(thumbnail, zoom and pan in a notebook).
"""

from workbench.imaging.slides.pyramid import Level
from workbench.imaging.slides.slide import NotASlideError, RegionError, Slide, open_slide, slides_table

__all__ = ["Level", "NotASlideError", "RegionError", "Slide", "open_slide", "slides_table"]
