"""What people read: figures never cut at 80 columns, bracketed text never eaten as markup."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from motherboard.quota.output import print_pending, print_tree
from motherboard.quota.usage import QueueNode, ResourceLine


def console() -> Console:
    # What a pipe gets: no terminal, 80 columns.
    return Console(width=80, record=True, color_system=None, force_terminal=False)


def test_the_tree_prints_every_figure_whole_at_80_columns() -> None:
    line = ResourceLine(
        "ephemeral.example.com/very-long-resource-name", None, Decimal("123456.789"), None, None
    )
    line.used, line.borrowed, line.lent = Decimal("98765.432"), Decimal(0), Decimal("1234.5")
    node = QueueNode("a-queue-with-a-long-name", None, 0, 1, [], [line], pending_jobs=3)
    out = console()
    print_tree([node], {}, out)
    text = out.export_text()
    for figure in ("123456.789", "98765.432", "1234.5"):
        assert figure in text, text


def test_pending_reasons_keep_their_brackets() -> None:
    row = {
        "namespace": "ns",
        "name": "job",
        "queue": "q",
        "phase": "Queued",
        "priorityClass": "",
        "since": "2026-01-01T00:00:00Z",
        "reason": "needs [bold]8[/] GPUs [queue q]",
    }
    out = console()
    print_pending([row], None, out)
    text = out.export_text()
    assert "Pending AIJobs of every queue" in text
    flat = "".join(text.split())  # the reason may fold over lines inside its cell
    assert "[bold]8[/]GPUs[queueq]" in flat.replace("│", ""), text
