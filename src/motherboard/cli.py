"""The ``motherboard`` command line: one entry point for every component.

Errors are one clear line on stderr and a conventional exit code (1 for a failure, 2 for bad usage);
tracebacks are for bugs only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from motherboard import __version__
from motherboard.api import crdgen
from motherboard.api.constants import API_VERSION
from motherboard.api.manifests import ManifestError, load_manifests

app = typer.Typer(
    name="motherboard",
    help="One control plane between AI jobs and heterogeneous accelerators on Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help is plain text: with Rich markup, "[default: profiles/demo.yaml]" in a help string vanished.
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

EXIT_FAILURE = 1


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print the Motherboard version and the API version it serves."""
    out.print(f"motherboard {__version__} (API {API_VERSION})", highlight=False)


@app.command()
def crds(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write one file per CRD into this directory.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Fail if the files in --output differ from the API models.")
    ] = False,
) -> None:
    """Print the CustomResourceDefinitions, write them (--output DIR), or check them (--check)."""
    from motherboard.api.v1alpha1 import KINDS

    if check:
        directory = output or Path("crds")
        stale = crdgen.stale_files(directory)
        if stale:
            raise fail(
                f"{directory}: {', '.join(stale)} out of date with src/motherboard/api: run `make crds`"
            )
        out.print(f"{directory}: CRDs up to date")
        return
    if output is not None:
        for path in crdgen.write_all(output):
            out.print(f"wrote {path}")
        return
    typer.echo("---\n".join(crdgen.render(kind) for kind in KINDS), nl=False)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Manifest files (YAML, several documents allowed).")],
) -> None:
    """Validate AIJob, DevicePool and Queue manifests without a cluster."""
    problems = 0
    for path in files:
        if not path.is_file():
            raise fail(f"{path}: no such file", code=2)
        try:
            for manifest in load_manifests(path):
                out.print(
                    f"[green]ok[/] {manifest.source} {manifest.obj.__class__.__name__} "
                    f"{manifest.obj.metadata.name}",
                    highlight=False,
                )
        except ManifestError as exc:
            problems += 1
            err.print(f"[bold red]invalid:[/] {exc}", highlight=False)
    if problems:
        raise typer.Exit(EXIT_FAILURE)


def _mount_components() -> None:
    # Each component owns its sub-command; importing them here keeps one `motherboard` entry point.
    from motherboard.demo.cli import demo
    from motherboard.devcluster.cli import app as dev_cluster_app
    from motherboard.models.cli import app as model_app
    from motherboard.deviceplugin.cli import app as device_plugin_app
    from motherboard.operator.cli import app as operator_app
    from motherboard.quota.cli import explain_app, queue_app
    from motherboard.runtime.cli import app as runtime_app
    from motherboard.scheduler.service.cli import app as scheduler_app
    from motherboard.scheduler.simulate.cli import app as simulate_app

    app.add_typer(dev_cluster_app, name="dev-cluster")
    app.add_typer(operator_app, name="operator")
    app.add_typer(device_plugin_app, name="device-plugin")
    app.add_typer(scheduler_app, name="scheduler")
    app.add_typer(queue_app, name="queue")
    app.add_typer(explain_app, name="explain")
    app.add_typer(simulate_app, name="simulate")
    app.add_typer(runtime_app, name="runtime")
    app.add_typer(model_app, name="model")
    app.command("demo")(demo)


_mount_components()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
