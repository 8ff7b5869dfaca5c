"""Decoding tiles: the fast JPEG decoder gives Pillow's pixels, and Pillow takes what it cannot decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from workbench.errors import DicomDataError
from workbench.imaging.slides import frames
from workbench.imaging.slides.frames import decode_frame

pytestmark = pytest.mark.pathology  # simplejpeg comes with the pathology extra


def jpeg(array: np.ndarray, mode: str | None = None, quality: int = 90) -> bytes:
    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def noisy_tile() -> np.ndarray:
    rng = np.random.default_rng(5)
    base = np.linspace(0, 255, 256 * 256 * 3).reshape(256, 256, 3)
    return (base + rng.normal(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


def test_simplejpeg_is_the_jpeg_decoder_of_the_pathology_extra() -> None:
    assert frames.simplejpeg is not None


@pytest.mark.parametrize("mode", [None, "L", "CMYK"])
def test_both_decoders_give_the_same_pixels(noisy_tile: np.ndarray, mode: str | None, monkeypatch) -> None:
    data = jpeg(noisy_tile, mode)
    fast = decode_frame(data, rows=256, columns=256)
    monkeypatch.setattr(frames, "simplejpeg", None)
    with Image.open(io.BytesIO(data)) as image:
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(fast, expected)
    np.testing.assert_array_equal(decode_frame(data, rows=256, columns=256), expected)
    assert fast.shape == (256, 256, 3) and fast.dtype == np.uint8


@pytest.mark.parametrize("fast", [True, False])
def test_a_corrupt_jpeg_names_the_frame(noisy_tile: np.ndarray, fast: bool, monkeypatch) -> None:
    if not fast:
        monkeypatch.setattr(frames, "simplejpeg", None)
    data = jpeg(noisy_tile)
    with pytest.raises(DicomDataError, match=r"frame 7 of instance 1\.2\.3 cannot be decoded"):
        decode_frame(data[: len(data) // 3], rows=256, columns=256, what="frame 7 of instance 1.2.3")
