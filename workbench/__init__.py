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
