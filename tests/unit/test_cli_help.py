"""--help prints help strings as written: bracketed text is not Rich markup (issue 14)."""

from __future__ import annotations

from typer.testing import CliRunner

from motherboard.cli import app


def test_bracketed_help_text_survives() -> None:
    result = CliRunner().invoke(app, ["dev-cluster", "up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # Before: "[default: …]" was read as a markup tag and vanished ("Cluster state directory .").
    assert "[default: $MOTHERBOARD_STATE/dev-cluster]" in " ".join(result.output.split())


def test_queue_pending_takes_no_name_to_list_every_queue() -> None:
    result = CliRunner().invoke(app, ["queue", "pending", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "[OPTIONS] [name]" in result.output, "the queue name is optional"
