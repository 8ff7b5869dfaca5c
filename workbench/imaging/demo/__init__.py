"""The demo hospital: synthetic, deterministic DICOM data to try the workbench on.

``load(client)`` stores 12 inpatients with Japanese names (chest CT, radiographs, brain MR), a chest-CT
screening cohort for MONAI (``cohort_labels`` gives its labels) and the character-set and compressed
sample files that ship inside pydicom. Everything is generated locally; nothing is downloaded.
"""

from workbench.imaging.demo.hospital import cohort_labels
from workbench.imaging.demo.loader import LoadStatus, load

__all__ = ["LoadStatus", "cohort_labels", "load"]
