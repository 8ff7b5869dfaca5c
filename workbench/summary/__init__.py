"""Japanese discharge summaries (退院サマリー): the second half of the seed, in the workbench.

Modules
-------
cases
    The case format: admission record, daily doctor/nursing notes, physician summary, facts; CSV exports.
sections
    The four-section template and parsing a summary into it.
prompts
    Versioned prompts with ``$(name)`` placeholders; Bedrock Prompt Management and MLflow export/import.
backends
    ``bedrock:``, ``openai:`` and ``baseline:extractive`` behind one interface; token and cost estimates.
generate
    :func:`~workbench.summary.generate.summarize`: render, call or reuse the cache, parse, record.
history, cache
    Every generation (SQLite); every paid response (SQLite).
redaction, imaging_context
    Identifiers out before sending, back in after; ``$(imaging)`` from the DICOM archive.
assistant
    The seed's Report / History / Prompt screens as ipywidgets.
"""
