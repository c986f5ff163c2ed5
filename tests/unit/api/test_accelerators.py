"""Model aliases: one rule for the webhook, the scheduler and the messages (issue 14)."""

from __future__ import annotations

from motherboard.api.accelerators import model_matches, resolve_model

KNOWN = ["A100-80GB", "H100-80GB", "T4", "910B3"]


def test_an_unambiguous_prefix_or_spelling_names_the_full_model() -> None:
    assert resolve_model("H100", KNOWN) == "H100-80GB"
    assert resolve_model("h100-80gb", KNOWN) == "H100-80GB"
    assert resolve_model("A100_80GB", KNOWN) == "A100-80GB"
    assert resolve_model("T4", KNOWN) == "T4"


def test_unknown_or_ambiguous_names_resolve_to_nothing() -> None:
    assert resolve_model("H200", KNOWN) is None
    assert resolve_model("H1", KNOWN) is None, "a prefix must end at a word boundary"
    both = [*KNOWN, "H100-PCIe"]
    assert model_matches("H100", both) == ["H100-80GB", "H100-PCIe"]
    assert resolve_model("H100", both) is None
