"""Prompt-version experiments: specs, plans, a resumable runner, papermill sweeps, record/collect.

Modules
-------
spec
    The YAML experiment spec (prompts x models x sources x cases x repeats, budget, concurrency ...).
plan
    A spec expanded into prepared calls with stable keys; token and cost estimates that know the cache.
runner
    :func:`~workbench.experiments.runner.run_experiment`: bounded concurrency, rate limit, retries on
    throttling, budget, ``results.jsonl`` appended as calls finish, resume.
manifest
    What a run's manifest records (spec, commit, versions, prompt hashes); the run folder itself is
    :mod:`workbench.records`.
batch_settings, batch_planning, batch_clients, batch_jobs
    Bedrock batch inference (``CreateModelInvocationJob``) for a run's missing Claude calls.
ratelimit
    Token bucket and exponential backoff with jitter.
sweep, record
    One notebook executed with many parameter sets via papermill; values recorded in notebooks, collected.
cli
    ``workbench experiment run|report|sweep|list|collect``.
"""
