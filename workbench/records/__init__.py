"""Run records: the run folder that experiments write and evaluation reads.

This package imports neither :mod:`workbench.experiments` nor :mod:`workbench.evaluation`; both import it.

:mod:`workbench.records.schema`
    The fields of a ``results.jsonl`` row, defined once, and :func:`~workbench.records.schema.result_row`.
:mod:`workbench.records.layout`
    Run ids, run folders (local or in shared storage, 0700), listing and locating runs, the run lock.
:mod:`workbench.records.results`
    Reading ``results.jsonl`` and writing it (:func:`~workbench.records.results.open_results`).
:mod:`workbench.records.manifest`
    Reading and writing ``manifest.json``; the git state and package versions it records.
"""
