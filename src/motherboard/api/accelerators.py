"""Accelerator model names as people write them: ``H100`` for ``H100-80GB`` when that is unambiguous.

Inventories publish full model names (``H100-80GB``, ``A100-SXM4-80GB``, ``910B3``). A request may name a
model by a shorter alias; the webhook, the scheduler and the messages resolve it by one rule, here, against
the models the cluster has. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def model_matches(requested: str, known: Iterable[str]) -> list[str]:
    """The known models ``requested`` names: itself; else those equal ignoring case and punctuation; else
    those it is the first part of (``H100`` → ``H100-80GB``, ``H100-PCIe-80GB``). Several: ambiguous."""
    models = sorted(set(known))
    if requested in models:
        return [requested]
    wanted = _normal(requested)
    if not wanted:
        return []
    same = [m for m in models if _normal(m) == wanted]
    if same:
        return same
    # A prefix that ends at a word boundary of the full name: "H100" names "H100-80GB", not "H1000".
    return [
        m
        for m in models
        if m.lower().startswith(requested.lower()) and not m[len(requested) : len(requested) + 1].isalnum()
    ]


def resolve_model(requested: str, known: Iterable[str]) -> str | None:
    """The one known model ``requested`` names, or ``None`` (unknown, or an ambiguous alias)."""
    found = model_matches(requested, known)
    return found[0] if len(found) == 1 else None
