"""Japanese text in matplotlib: a CJK font first in the sans-serif fallback list.

Matplotlib's default DejaVu Sans has no kanji or kana, so Japanese labels come out as empty boxes with a
"Glyph ... missing from font" warning. :func:`use_japanese_fonts` puts the first installed Japanese font
(Debian ``fonts-noto-cjk`` or ``fonts-ipaexfont``; conda-forge ``font-ttf-noto-cjk``) at the front of
matplotlib's sans-serif list (these fonts have Latin letters and the minus sign too). ``import workbench`` in
a Jupyter kernel calls it.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

JAPANESE_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "Hiragino Sans",
    "Yu Gothic",
    "MS Gothic",
)
"""Japanese fonts in order of preference (Linux, conda, macOS, Windows)."""


def use_japanese_fonts() -> str | None:
    """Put the first installed font of :data:`JAPANESE_FONTS` in matplotlib's fallback list.

    Returns
    -------
    str or None
        The font used, or ``None`` (with a log warning naming the package to install) when none is installed.
    """
    import matplotlib
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    found = [name for name in JAPANESE_FONTS if name in installed]
    if not found:
        logger.warning(
            "no Japanese font for matplotlib: Japanese labels show as boxes; install Debian fonts-noto-cjk "
            "(or conda-forge font-ttf-noto-cjk)"
        )
        return None
    sans = [name for name in matplotlib.rcParams["font.sans-serif"] if name not in found]
    matplotlib.rcParams["font.sans-serif"] = [found[0], *sans]
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    return found[0]


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter (ipykernel) kernel: a notebook, papermill, JupyterLab."""
    import sys

    return "ipykernel" in sys.modules
