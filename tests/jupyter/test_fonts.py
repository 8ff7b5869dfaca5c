"""Japanese labels in matplotlib render with real glyphs once the package configures the fonts."""

from __future__ import annotations

import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from workbench.jupyter.fonts import use_japanese_fonts


def _draw_japanese() -> list[str]:
    fig, ax = plt.subplots()
    ax.set_xlabel("退院時要約の長さ (文字) ひらがな カタカナ")
    ax.set_title("Loss −1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    plt.close(fig)
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


def test_japanese_label_has_no_missing_glyphs() -> None:
    with matplotlib.rc_context():
        matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
        assert _draw_japanese(), "the default font should lack kanji (else this test proves nothing)"
        assert use_japanese_fonts() == "Noto Sans CJK JP"  # Debian fonts-noto-cjk (Makefile APT_PACKAGES)
        assert _draw_japanese() == []


def test_importing_workbench_in_a_kernel_configures_the_fonts() -> None:
    code = (
        "import sys, types; sys.modules['ipykernel'] = types.ModuleType('ipykernel');"
        "import workbench, matplotlib;"
        "print(matplotlib.rcParams['font.sans-serif'][:2])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Noto Sans CJK JP" in out


def test_plain_import_leaves_matplotlib_alone() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import workbench, sys; print('matplotlib' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"
