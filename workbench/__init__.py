"""Research workbench for clinical AI teams.

Subpackages
-----------
imaging
    Orthanc and DICOMweb archives as pandas tables and numpy volumes; a managed local Orthanc; demo data.
ml
    MONAI datasets and transforms over the archive; results written back as DICOM.
summary
    Japanese discharge summaries: cases, versioned prompts, model backends, history.
experiments
    Prompt-version experiments: specs, a resumable runner, papermill sweeps.
evaluation
    Japanese metrics, LLM judge, statistics and report tables.
"""

__version__ = "0.1.0"


def _notebook_setup() -> None:
    """In a Jupyter kernel: Japanese fonts for matplotlib (Japanese labels are not empty boxes)."""
    import contextlib

    from workbench.jupyter.fonts import in_jupyter_kernel, use_japanese_fonts

    if in_jupyter_kernel():
        with contextlib.suppress(ImportError):  # matplotlib is an optional extra
            use_japanese_fonts()


_notebook_setup()
