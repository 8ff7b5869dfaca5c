"""Redaction benchmark: recall per identifier category on the synthetic corpus, the full recogniser against
GiNZA's named-entity model alone (Presidio with only the spaCy recogniser) measured in the same run.

    PYTHONPATH=. python bench/redaction.py

Prints the per-category table the README quotes, then the peer's recall and the ratio.
"""

from __future__ import annotations

import time

from workbench.summary.redaction import engine
from workbench.summary.redaction.benchmark import load_corpus, score


def main() -> None:
    documents = load_corpus()
    started = time.perf_counter()
    engine.analyzer()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    table, details = score(documents)
    elapsed = time.perf_counter() - started
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    print(f"\n{len(documents)} documents; GiNZA + Presidio loaded in {loaded:.1f} s; "
          f"scored in {elapsed:.1f} s ({elapsed / len(documents) * 1000:.0f} ms per document)")
    for detail in details:
        if detail.spurious:
            print(f"  {detail.id}: replaced without need: {detail.spurious}")

    # the peer: GiNZA's statistical model alone (Presidio's own spaCy recogniser), through the same engine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    registry = engine.analyzer().registry
    kept = list(registry.recognizers)
    registry.recognizers = [SpacyRecognizer(supported_language="ja", supported_entities=["NAME", "ADDRESS"])]
    engine.clear_cache()  # the cache holds the full recogniser's answers
    try:
        peer, _ = score(documents)
    finally:
        registry.recognizers = kept
        engine.clear_cache()
    ours, theirs = table.loc["ALL", "recall"], peer.loc["ALL", "recall"]
    print(f"\nrecall, all categories: workbench {ours:.3f} vs GiNZA NER alone {theirs:.3f} "
          f"(ratio {ours / max(theirs, 1e-9):.2f}); names {table.loc['NAME', 'recall']:.3f} vs "
          f"{peer.loc['NAME', 'recall']:.3f}; needless replacements {table.loc['ALL', 'spurious']:.0f} vs "
          f"{peer.loc['ALL', 'spurious']:.0f}, clinical tokens damaged "
          f"{table.loc['ALL', 'clinical_damaged']:.0f} vs {peer.loc['ALL', 'clinical_damaged']:.0f}")


if __name__ == "__main__":
    main()
