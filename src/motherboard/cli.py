"""The ``motherboard`` command line: one entry point for every component.

Errors are one clear line on stderr and a conventional exit code (1 for a failure, 2 for bad usage);
tracebacks are for bugs only.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from typer import _click as click
from typer.core import TyperGroup

from motherboard import __version__
from motherboard.api.constants import API_VERSION

# Each component owns its sub-command. They are imported only when named on the command line: importing
# them all (Kubernetes and HTTP clients, the scheduler, TVM's and ONNX's wrappers) took 1.6 s before any
# command ran, for `motherboard version` too. The one-line help shown by `motherboard --help` is kept here.
_COMPONENTS: dict[str, tuple[str, str, str]] = {
    "demo": ("motherboard.demo.cli", "demo", "Local cluster + CRDs + operator + scheduler + examples, live."),
    "dev-cluster": (
        "motherboard.devcluster.cli",
        "app",
        "A local Kubernetes control plane built from Go modules.",
    ),
    "operator": ("motherboard.operator.cli", "app", "The AIJob operator (kopf): pods, services, status."),
    "device-plugin": (
        "motherboard.deviceplugin.cli",
        "app",
        "The kubelet device plugin (NVIDIA, Ascend, ...).",
    ),
    "scheduler": (
        "motherboard.scheduler.service.cli",
        "app",
        "The Motherboard scheduler: admit, place, bind.",
    ),
    "queue": (
        "motherboard.quota.cli",
        "queue_app",
        "Tenant queues: the quota tree, quota edits, pending jobs.",
    ),
    "explain": ("motherboard.quota.cli", "explain_app", "Explain why an object is in its state."),
    "simulate": ("motherboard.scheduler.simulate.cli", "app", "Replay a GPU cluster trace against policies."),
    "job-trace": (
        "motherboard.scheduler.simulate.jobcli",
        "trace_app",
        "Make job traces for 'simulate --jobs': synthetic, Alibaba pods, Philly.",
    ),
    "runtime": ("motherboard.runtime.cli", "app", "Serve compiled models over the Open Inference Protocol."),
    "model": ("motherboard.models.cli", "app", "Inspect ONNX models, compile them per target, benchmark."),
}


def _load_component(name: str) -> click.Command:
    module_name, attribute, _ = _COMPONENTS[name]
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        target.rich_markup_mode = None  # help is plain text, as for the root (bracketed text survives)
        # get_group, not get_command: the latter folds a Typer of one command into that command
        # (`motherboard operator run` then failed with "unexpected extra argument (run)").
        return typer.main.get_group(target)
    single = typer.Typer(pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None)
    single.command(name)(target)
    return typer.main.get_command(single)


class _LazyComponent(TyperGroup):
    """A sub-command listed by name and help; its module is imported when the command line reaches it."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, help=_COMPONENTS[name][2], short_help=_COMPONENTS[name][2])

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # The real command parses the arguments; the group then invokes `sub_ctx.command`, the real one.
        return _load_component(self.name or "").make_context(info_name, args, parent=parent, **extra)


class _Root(TyperGroup):
    """The top-level group: the commands defined in this module, then the components by name."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *_COMPONENTS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _COMPONENTS:
            return _LazyComponent(cmd_name)
        return command


app = typer.Typer(
    cls=_Root,
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
    from motherboard.api import crdgen
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
    """Validate AIJob, DevicePool, Queue and Model manifests without a cluster."""
    from motherboard.api.manifests import ManifestError, load_manifests

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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
