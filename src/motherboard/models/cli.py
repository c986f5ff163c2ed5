"""``motherboard model …``: inspect, compile, list targets, benchmark backends.

Heavy libraries (onnx, onnxruntime, TVM) are imported inside the commands, so ``motherboard --help``
does not pay for them. Every ``ModelError`` becomes one line on stderr and exit code 1.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from motherboard.models.errors import ModelError
from motherboard.models.tensors import PROTOCOL_DATATYPES, TensorSpec

app = typer.Typer(
    help="The model layer: inspect an ONNX model, compile it per hardware target, benchmark backends.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_SPEC = re.compile(r"^(?P<name>[^:]+):(?P<dtype>[A-Z0-9]+):(?P<shape>-?\d+(,-?\d+)*)$")

InputOption = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        "-i",
        help="Override an input: NAME:DATATYPE:SHAPE, e.g. x:FP32:-1,3,48,192 (-1 keeps a dimension dynamic).",
    ),
]
MaxSizeOption = Annotated[int, typer.Option("--max-size", help="Refuse model files larger than this (MiB).")]


def parse_spec(text: str, field: str = "--input") -> TensorSpec:
    """``x:FP32:-1,3,224,224`` → a TensorSpec; ``ModelError`` naming the expected form otherwise."""
    m = _SPEC.match(text.strip())
    if not m:
        raise ModelError(f"{field} {text!r}: write NAME:DATATYPE:SHAPE, e.g. x:FP32:-1,3,224,224")
    if m["dtype"] not in PROTOCOL_DATATYPES:
        raise ModelError(
            f"{field} {text!r}: datatype {m['dtype']} is not one of {', '.join(PROTOCOL_DATATYPES)}"
        )
    shape = tuple(int(d) for d in m["shape"].split(","))
    if any(d < -1 or d == 0 for d in shape):
        raise ModelError(f"{field} {text!r}: dimensions are positive, or -1 for dynamic")
    return TensorSpec(m["name"], m["dtype"], shape)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ModelError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def _import(file: Path, inputs: list[str] | None, max_size: int, sha256: str | None = None):  # type: ignore[no-untyped-def]
    from motherboard.models.importer import import_onnx

    overrides = [parse_spec(s) for s in inputs or ()]
    return import_onnx(file, sha256=sha256, inputs=overrides, max_bytes=max_size << 20)


@app.command()
def targets() -> None:
    """List the hardware targets models are compiled for."""
    from motherboard.models.targets import TARGETS

    table = Table("target", "kind", "arch", "backends", "description", box=None)
    for t in TARGETS:
        backends = ", ".join(
            b for b, ok in (("tvm", t.tvm is not None), ("onnxruntime", bool(t.ort_providers))) if ok
        )
        table.add_row(t.name, t.kind.value, t.arch, backends, escape(t.description))
    out.print(table)


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="The ONNX model file.")],
    inputs: InputOption = None,
    max_size: MaxSizeOption = 2048,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check a model and print its graph summary and what each target's backends cannot compile."""
    with _errors():
        from motherboard.models.analysis import summarize
        from motherboard.models.compiler import BACKEND_NAMES, backend
        from motherboard.models.targets import TARGETS

        model = _import(file, inputs, max_size)
        summary = summarize(model)
        support = {t.name: {b: backend(b).unsupported(model, t) for b in BACKEND_NAMES} for t in TARGETS}
    if as_json:
        data = {
            "digest": model.digest,
            "sizeBytes": model.size_bytes,
            "inputs": [s.to_json() for s in model.inputs],
            "outputs": [s.to_json() for s in model.outputs],
            "summary": summary.to_json(),
            "unsupported": support,
        }
        out.print_json(json.dumps(data))
        return
    out.print(
        f"[bold]{escape(file.name)}[/]  {model.digest}  {model.size_bytes / 2**20:.2f} MiB  opset {model.opset}"
    )
    for kind, specs in (("input", model.inputs), ("output", model.outputs)):
        for s in specs:
            out.print(f"  {kind} {escape(s.name)}: {s.datatype} {list(s.shape)}", highlight=False)
    out.print(
        f"  parameters {summary.parameters:,} ({summary.parameter_bytes / 2**20:.2f} MiB), "
        f"{summary.flops_per_sample / 1e6:,.1f} MFLOPs per sample"
        + "".join(f", {k}={v}" for k, v in summary.assumed_dims.items()),
        highlight=False,
    )
    if summary.dynamic_dims:
        dims = ", ".join(
            f"{d.tensor}[{d.axis}]{' ' + d.name if d.name else ''}" for d in summary.dynamic_dims
        )
        out.print(f"  dynamic dimensions: {escape(dims)}", highlight=False)
    if summary.unsized_operators:
        out.print(f"  FLOPs not estimated for: {', '.join(summary.unsized_operators)}", highlight=False)
    out.print("  operators: " + ", ".join(f"{k}×{v}" for k, v in summary.operators.items()), highlight=False)
    table = Table("target", *BACKEND_NAMES, box=None)
    for name, by_backend in support.items():
        table.add_row(name, *(escape("; ".join(r)) if r else "[green]ok[/]" for r in by_backend.values()))
    out.print(table)


@app.command("compile")
def compile_(
    file: Annotated[Path, typer.Argument(help="The ONNX model file.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Target name (see `motherboard model targets`).")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Model-repository version folder to write (artifact + manifest)."
        ),
    ],
    backends: Annotated[
        list[str] | None,
        typer.Option("--backend", "-b", help="Allowed backends (default: tvm and onnxruntime)."),
    ] = None,
    trials: Annotated[int, typer.Option(help="MetaSchedule tuning budget for TVM (total, resumable).")] = 0,
    name: Annotated[
        str | None, typer.Option(help="Model name in the manifest (default: the file's stem).")
    ] = None,
    version: Annotated[int, typer.Option(min=1, help="Model version in the manifest.")] = 1,
    max_batch_size: Annotated[
        int | None,
        typer.Option(help="Largest batch the server may form (default 64 for batchable models, else 0)."),
    ] = None,
    inputs: InputOption = None,
    sha256: Annotated[str | None, typer.Option(help="Refuse the file unless its sha256 is this.")] = None,
    max_size: MaxSizeOption = 2048,
    store_dir: Annotated[
        Path | None,
        typer.Option("--store", help="Artifact store (default $MOTHERBOARD_ARTIFACTS or ~/.cache)."),
    ] = None,
    measure: Annotated[bool, typer.Option(help="Measure latency where the target runs here.")] = True,
) -> None:
    """Compile FILE for one target with every allowed backend, choose one, write it to OUTPUT."""
    with _errors():
        from motherboard.models.compiler import BACKEND_NAMES, compile_for_target
        from motherboard.models.store import FilesystemStore, default_store_root
        from motherboard.models.targets import get_target

        chosen_target = get_target(target)
        if trials < 0:
            raise ModelError("--trials: a budget is 0 or more")
        if max_batch_size is not None and max_batch_size < 0:
            raise ModelError(f"--max-batch-size {max_batch_size}: a limit is 0 (no batching) or more")
        model = _import(file, inputs, max_size, sha256)
        root = store_dir or default_store_root()
        store = FilesystemStore(root / "store")
        result = compile_for_target(
            model,
            chosen_target,
            store,
            name=name or file.stem,
            version=version,
            backends=tuple(backends or BACKEND_NAMES),
            trials=trials,
            tuning_root=root / "tuning",
            max_batch_size=max_batch_size,
            measure_latency=measure,
        )
        assert result.choice is not None
        chosen = result.choice.manifest
        served = next(a for a in result.artifacts if a.manifest.backend == chosen.backend)
        alternatives = [
            {
                "backend": a.manifest.backend,
                "artifactDigest": a.manifest.artifact_digest,
                "latency": [x.to_json() for x in a.latency],
            }
            for a in result.artifacts
        ]
        changes = {
            "max_batch_size": result.max_batch_size,
            "reason": result.choice.reason,
            "latency": served.latency,
            "extra": {**served.manifest.extra, "alternatives": alternatives, "refused": result.refused},
        }
        store.export(served.stored.key, output, name or file.stem, version, changes)
    for a in result.artifacts:
        state = "cached" if a.cached else f"compiled in {a.manifest.compile_seconds:.2f} s"
        lat = ", ".join(f"b{x.batch} p50 {x.p50_us:.0f} µs" for x in a.latency) or "not measured here"
        out.print(f"{a.manifest.backend}: {state}, {a.manifest.artifact_bytes:,} B, {lat}", highlight=False)
    for b, reasons in result.refused.items():
        out.print(f"{b}: refused: {escape('; '.join(reasons))}", highlight=False)
    out.print(f"chose {chosen.backend}: {escape(result.choice.reason)}", highlight=False)
    out.print(f"wrote {output}/{chosen.artifact} and {output}/manifest.json", highlight=False)


@app.command()
def bench(
    file: Annotated[Path, typer.Argument(help="The ONNX model file.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="A target that runs on this machine.")
    ] = "cpu-x86_64",
    trials: Annotated[int, typer.Option(help="TVM tuning budget (total, resumable).")] = 0,
    inputs: InputOption = None,
    max_size: MaxSizeOption = 2048,
    store_dir: Annotated[Path | None, typer.Option("--store", help="Artifact store root.")] = None,
) -> None:
    """Latency per backend (p50/p99 at batch 1, 8, 32) for a target this machine runs."""
    with _errors():
        from motherboard.models.compiler import compile_for_target
        from motherboard.models.store import FilesystemStore, default_store_root
        from motherboard.models.targets import get_target

        chosen_target = get_target(target)
        if not chosen_target.runs_here:
            raise ModelError(f"--target {target}: this machine cannot run it; benchmark on that hardware")
        model = _import(file, inputs, max_size)
        root = store_dir or default_store_root()
        result = compile_for_target(
            model,
            chosen_target,
            FilesystemStore(root / "store"),
            name=file.stem,
            trials=trials,
            tuning_root=root / "tuning",
        )
    table = Table("backend", "batch", "p50 µs", "p99 µs", "artifact B", "compile s", box=None)
    for a in result.artifacts:
        for x in a.latency:
            table.add_row(
                a.manifest.backend,
                str(x.batch),
                f"{x.p50_us:,.0f}",
                f"{x.p99_us:,.0f}",
                f"{a.manifest.artifact_bytes:,}",
                f"{a.manifest.compile_seconds:.2f}",
            )
    out.print(table)
    if result.choice:
        out.print(f"policy: {escape(result.choice.reason)}", highlight=False)


@app.command()
def status(
    manifest: Annotated[
        Path, typer.Argument(help="A YAML file with one Model (file:// or http(s):// sources).")
    ],
    target: Annotated[
        list[str] | None, typer.Option("--target", "-t", help="Targets to compile the latest version for.")
    ] = None,
    store_dir: Annotated[Path | None, typer.Option("--store", help="Artifact store root.")] = None,
) -> None:
    """Compute a Model's status as the operator writes it (versions, summaries, artifacts, conditions)."""
    import yaml

    from motherboard.api.manifests import ManifestError, load_manifests
    from motherboard.api.v1alpha1.model import Model

    with _errors():
        try:
            models = [m.obj for m in load_manifests(manifest) if isinstance(m.obj, Model)]
        except ManifestError as exc:
            raise ModelError(str(exc)) from None
        if len(models) != 1:
            raise ModelError(f"{manifest}: holds {len(models)} Models; give a file with exactly one")
        from motherboard.models.status import model_status
        from motherboard.models.store import FilesystemStore, default_store_root

        root = store_dir or default_store_root()
        result = model_status(models[0], target or [], FilesystemStore(root / "store"), root / "tuning")
    out.print(
        escape(yaml.safe_dump({"status": result.model_dump(mode="json", by_alias=True, exclude_none=True)})),
        highlight=False,
    )
    if any(c.status != "True" for c in result.conditions):
        raise typer.Exit(1)


@app.command("compile-job", hidden=True)
def compile_job() -> None:
    """Run one compile the operator asked for ($MOTHERBOARD_COMPILE): fetch, compile, upload."""
    from motherboard.models.compilejob import main as compile_main

    with _errors():
        raise typer.Exit(compile_main())


@app.command()
def fetch(
    repository: Annotated[Path, typer.Option("--into", help="Model repository to lay the version out in.")],
    cache: Annotated[
        Path, typer.Option("--cache", help="The node's artifact cache (kept across restarts).")
    ] = Path("/var/cache/motherboard/artifacts"),
    target: Annotated[
        str | None, typer.Option("--target", help="Target (default: from the device plugin's variables).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per download.")] = 60.0,
) -> None:
    """A serving replica's first step: fetch the artifact for its device from the plan in $MOTHERBOARD_SERVING."""
    import os

    from motherboard.models.compilejob import TERMINATION_LOG
    from motherboard.models.fetch import ENV, ServingRequest, detect_target
    from motherboard.models.fetch import fetch as do_fetch

    with _errors():
        text = os.environ.get(ENV)
        if not text:
            raise ModelError(f"${ENV} is not set: the operator renders it into serving replicas")
        request = ServingRequest.from_json(text)
        chosen = target or detect_target()
        try:
            done = do_fetch(request, repository, cache, chosen, timeout)
        except ModelError as exc:
            with contextlib.suppress(OSError):
                TERMINATION_LOG.write_text(json.dumps({"target": chosen, "error": str(exc)})[:4000])
            raise
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(done.summary())
        out.print(escape(done.summary()), highlight=False)
