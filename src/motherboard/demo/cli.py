"""``motherboard demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from motherboard.devcluster.cluster import default_profile


def demo(
    profile: Annotated[
        Path | None, typer.Option(help="Cluster profile [default: profiles/demo.yaml].")
    ] = None,
    examples: Annotated[Path, typer.Option(help="Manifests to apply.")] = Path("examples"),
    watch: Annotated[float, typer.Option(help="Seconds to watch the jobs at most.")] = 300,
    state_dir: Annotated[Path | None, typer.Option(help="Cluster state directory.")] = None,
    real_nodes: Annotated[
        int,
        typer.Option(
            "--real-nodes",
            min=0,
            max=1,
            help="Real kubelet nodes beside the kwok ones (skipped, with the reason, where the host cannot).",
        ),
    ] = 1,
) -> None:
    """Local cluster + CRDs + operator + scheduler + examples, shown live until the jobs finish."""
    from motherboard.demo.run import Demo, DemoError

    console = Console()
    if not examples.is_dir():
        console.print(
            f"[bold red]error:[/] {examples} is not a directory of manifests (run from the repo root)"
        )
        raise typer.Exit(2)
    runner = Demo(console, profile or default_profile(), examples, state_dir, real_nodes=real_nodes)
    try:
        runner.run(watch)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: stopping the operator and the scheduler[/]")
    except DemoError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        runner.stop()
    runner.next_steps()
