"""Benchmark the model layer: compile time, artifact size, load time and latency per backend, per model.

For each model (the built samples and the three PP-OCR models shipped in the rapidocr-onnxruntime wheel)
and each target, it compiles with TVM (untuned, and tuned with ``--trials`` when given) and ONNX Runtime
into a fresh store, then, for targets this machine runs, loads every artifact through the serving path
and times ``run`` at batch 1, 8 and 32 (a batch is skipped once one call takes over ``--slow-s``).
It also times a cached compile (the store already holds the artifacts) and checks that the policy's
choice is within 5 % of the fastest measured backend. Prints a Markdown table and writes JSON.

    .venv/bin/python bench/models.py --output /tmp/models-bench.json
    .venv/bin/python bench/models.py --models cnn --trials 64          # adds a tuned TVM row
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from motherboard.models.compiler import compile_for_target
from motherboard.models.errors import ModelError
from motherboard.models.importer import ImportedModel, import_onnx
from motherboard.models.measure import measure, random_inputs
from motherboard.models.runner import load_runner
from motherboard.models.samples import write_sample
from motherboard.models.store import FilesystemStore
from motherboard.models.targets import get_target
from motherboard.models.zoo import MODELS, wheel_model

BUILT = ("mlp", "cnn", "transformer")


def _load(name: str, folder: Path) -> ImportedModel:
    if name in BUILT:
        return import_onnx(write_sample(name, folder))
    return import_onnx(wheel_model(name), inputs=MODELS[name].inputs)


def bench_model(name: str, target_name: str, trials: int, slow_s: float, work: Path) -> list[dict[str, Any]]:
    target = get_target(target_name)
    started = time.perf_counter()
    model = _load(name, work)
    import_s = time.perf_counter() - started
    rows: list[dict[str, Any]] = []
    variants: list[tuple[str, tuple[str, ...], int]] = [
        ("tvm", ("tvm",), 0),
        ("onnxruntime", ("onnxruntime",), 0),
    ]
    if trials:
        variants.insert(1, (f"tvm tuned ({trials} trials)", ("tvm",), trials))
    for label, backends, budget in variants:
        store = FilesystemStore(work / f"store-{label.replace(' ', '_')}")
        t = time.perf_counter()
        try:
            result = compile_for_target(
                model, target, store, name=name, backends=backends, trials=budget,
                tuning_root=work / "tuning", measure_latency=False,
            )  # fmt: skip
        except ModelError as exc:  # a backend that cannot build this model for this target is a result too
            rows.append({"model": name, "target": target_name, "backend": label, "error": str(exc)})
            continue
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        compile_for_target(model, target, store, name=name, backends=backends, trials=budget,
                           tuning_root=work / "tuning", measure_latency=False)  # fmt: skip
        cached_s = time.perf_counter() - t
        (artifact,) = result.artifacts
        row: dict[str, Any] = {
            "model": name, "target": target_name, "backend": label, "import_s": round(import_s, 3),
            "compile_s": round(compile_s, 3), "cached_compile_s": round(cached_s, 3),
            "artifact_bytes": artifact.manifest.artifact_bytes, "static_batch": artifact.manifest.extra.get("staticBatch"),
        }  # fmt: skip
        if target.runs_here:
            folder = work / f"v-{label.replace(' ', '_')}-{name}"
            store.export(artifact.stored.key, folder, name, 1)
            t = time.perf_counter()
            runner = load_runner(folder, target_name)
            row["load_ms"] = round((time.perf_counter() - t) * 1e3, 2)
            first = runner.inputs[0].shape
            batches = [first[0]] if first and first[0] > 0 else [1, 8, 32]
            for batch in batches:
                t = time.perf_counter()
                runner.run(random_inputs(runner.inputs, batch))
                if time.perf_counter() - t > slow_s:
                    row[f"b{batch}"] = f"skipped: over {slow_s:.0f} s per call"
                    break
                (lat,) = measure(runner, [batch], budget_s=2.0, max_calls=200)
                row[f"b{batch}"] = {"p50_us": lat.p50_us, "p99_us": lat.p99_us}
            runner.close()
        rows.append(row)
    if target.runs_here:  # what the policy itself chooses, measuring with its own short budget
        choice = compile_for_target(model, target, FilesystemStore(work / "store-policy"), name=name).choice
        for row in rows:
            row["policy_choice"] = choice.manifest.backend if choice else None
    return rows


def policy_check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The policy serves the lowest geometric-mean p50 over the batches every backend measured."""
    by_backend = {r["backend"]: r for r in rows if isinstance(r.get("b1"), dict)}
    common = [k for k in ("b1", "b8", "b32") if all(isinstance(r.get(k), dict) for r in by_backend.values())]
    if len(by_backend) < 2 or not common:
        return {}
    score = {b: statistics.geometric_mean([r[k]["p50_us"] for k in common]) for b, r in by_backend.items()}
    best = min(score, key=lambda b: score[b])
    chosen = next(iter(by_backend.values())).get("policy_choice")
    ratio = score[chosen] / score[best] if chosen in score else None
    return {"fastest": best, "policy_choice": chosen, "choice_vs_fastest": ratio,
            "scores_us": {b: round(s, 1) for b, s in score.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join([*BUILT, *MODELS]))
    parser.add_argument("--targets", default="cpu-x86_64,cpu-aarch64,cuda-sm90")
    parser.add_argument("--trials", type=int, default=0, help="TVM tuning budget for the tuned row (0: none)")
    parser.add_argument("--slow-s", type=float, default=2.0)
    parser.add_argument("--output", type=Path, default=Path("models-bench.json"))
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="motherboard-bench-") as tmp:
        for name in args.models.split(","):
            for target in args.targets.split(","):
                if target != "cpu-x86_64" and args.trials:
                    continue  # tuning runs on this machine's CPU only
                got = bench_model(
                    name, target, args.trials if target == "cpu-x86_64" else 0, args.slow_s, Path(tmp)
                )
                rows += got
                check = policy_check(got)
                for r in got:
                    print(json.dumps(r), flush=True)
                if check:
                    print(json.dumps({"model": name, "target": target, "policy": check}), flush=True)
    args.output.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
