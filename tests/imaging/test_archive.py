"""Helpers shared by both archives."""

from __future__ import annotations

import gc

import pytest

from workbench.imaging.tables import paused_gc


def test_paused_gc_restores_the_collector() -> None:
    @paused_gc
    def inner() -> bool:
        return gc.isenabled()

    @paused_gc
    def failing() -> None:
        raise RuntimeError("boom")

    assert gc.isenabled() and inner() is False and gc.isenabled()
    with pytest.raises(RuntimeError):
        failing()
    assert gc.isenabled()
    gc.disable()
    try:
        assert inner() is False and not gc.isenabled()  # left as the caller set it
    finally:
        gc.enable()
