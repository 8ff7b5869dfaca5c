"""The Prompt screen's rules: diffs without front-matter noise, and what a new version must contain.

Plain functions; the assistant's Prompt tab calls them.
"""

from __future__ import annotations

import difflib
import logging

from workbench.summary.prompts import Prompt, PromptRegistry

logger = logging.getLogger(__name__)

VOLATILE_FRONT_MATTER = ("version", "created", "author", "description")
"""Front-matter keys that differ between any two versions: left out of the screen's diff."""

REQUIRED_PLACEHOLDERS = ("karte", "ichigo")
"""Placeholders a discharge-summary prompt normally uses; creating one without them asks to confirm."""


def _diff_lines(prompt: Prompt) -> list[str]:
    lines = prompt.text.splitlines(keepends=True) if prompt.text else prompt.body.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            front = [
                line for line in lines[1:end] if line.split(":", 1)[0].strip() not in VOLATILE_FRONT_MATTER
            ]
            lines = ["---\n", *front, *lines[end:]]
    return lines


def screen_diff(registry: PromptRegistry, a: str, b: str) -> str:
    """Unified diff of two versions without the front-matter lines that always differ (version, created ...).

    Parameters changes (max_tokens, temperature, system) still show.
    """
    pa, pb = registry.get(a), registry.get(b)
    return "".join(
        difflib.unified_diff(
            _diff_lines(pa), _diff_lines(pb), fromfile=f"{pa.version}.md", tofile=f"{pb.version}.md"
        )
    )


def missing_placeholders(body: str) -> list[str]:
    """Which of :data:`REQUIRED_PLACEHOLDERS` a prompt body lacks (``$(karte)``, ``$(ichigo)``)."""
    return [name for name in REQUIRED_PLACEHOLDERS if f"$({name})" not in body]
