"""Fixtures for tests and benchmarks (numpy's ``numpy.testing`` habit): not used by the features.

:mod:`workbench.testing.synthetic`
    Small synthetic DICOM series with known geometry and pixel values.
"""
