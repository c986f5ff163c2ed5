"""Per-model serving configuration: ``<repository>/<model>/config.json``, Triton's field names in JSON.

The file is the JSON form of Triton's ``ModelConfig`` (the same shape ``GET /v2/models/{m}/config``
returns), restricted to what this server acts on, so a Triton user reads it without a new vocabulary and
a config fetched from one server can be dropped into the other's repository. Every field is optional;
what is missing is derived from the model:

- ``max_batch_size``: the manifest's, else ``DEFAULT_MAX_BATCH_SIZE`` when every input and output has a
  dynamic first dimension, else 0 (the model takes no batch dimension the server may batch on);
- ``dynamic_batching``: on (no added delay) when there is no ``config.json`` and the model can batch; when a
  ``config.json`` exists, batching is on only if it names ``dynamic_batching`` (Triton's rule);
- ``instance_group``: one instance per CPU core, up to ``MAX_DEFAULT_INSTANCES``, each runner given
  cores / instances threads (measured on 2 cores with the OCR classifier: 2 single-threaded instances
  served 1.8x the requests of 1 two-threaded one, at half the CPU per request: ONNX Runtime's intra-op
  pool spins);
- ``version_policy``: the latest version.

Ensembles (``"platform": "ensemble"``) name their steps in ``ensemble_scheduling.step``; their inputs and
outputs may be given (``input``/``output``) or are derived from the steps.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motherboard.models.tensors import PROTOCOL_DATATYPES, TensorSpec

CONFIG_FILE = "config.json"
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_QUEUE_SIZE = 1024
"""Requests waiting per model version before the server answers 503/UNAVAILABLE (never unbounded memory)."""
ENSEMBLE_PLATFORM = "ensemble"
MAX_DEFAULT_INSTANCES = 4


def default_instances() -> int:
    """Instances of a model whose config names none: one per core, at most ``MAX_DEFAULT_INSTANCES``."""
    return max(1, min(MAX_DEFAULT_INSTANCES, os.cpu_count() or 1))


class ConfigError(ValueError):
    """A config.json the server cannot act on; the message names the field."""


@dataclass(frozen=True)
class VersionPolicy:
    """Which numeric version folders are served: the latest N, all, or a specific list."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :] if self.num_versions > 0 else []

    def to_json(self) -> dict[str, Any]:
        if self.kind == "all":
            return {"all": {}}
        if self.kind == "specific":
            return {"specific": {"versions": list(self.versions)}}
        return {"latest": {"num_versions": self.num_versions}}


@dataclass(frozen=True)
class Batching:
    """Dynamic batching: wait up to ``max_queue_delay_us`` for a fuller batch (0: batch what is queued)."""

    enabled: bool = True
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE


@dataclass(frozen=True)
class EnsembleStep:
    """One step of an ensemble: a model in the same server and how tensors map in and out of it."""

    model_name: str
    model_version: int
    """-1: the model's latest served version."""
    input_map: dict[str, str]
    """The step model's input name → the ensemble tensor feeding it."""
    output_map: dict[str, str]
    """The step model's output name → the ensemble tensor it produces."""


@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` says (``None``: derive it from the model)."""

    name: str
    platform: str | None = None
    max_batch_size: int | None = None
    batching: Batching | None = None
    has_file: bool = False
    instances: int | None = None
    """``None``: :func:`default_instances`."""
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    steps: tuple[EnsembleStep, ...] = ()
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE

    @property
    def is_ensemble(self) -> bool:
        return self.platform == ENSEMBLE_PLATFORM


def _int(data: dict[str, Any], key: str, default: int, *, where: str, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)  # protobuf's JSON form writes int64 fields as strings
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _object(data: dict[str, Any], key: str, *, where: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}: expected an object, got {type(value).__name__}")
    return value


def _tensor_specs(items: Any, *, where: str, batch: bool) -> tuple[TensorSpec, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected a list of tensors")
    specs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{where}[{i}]: expected an object with a name")
        datatype = str(item.get("data_type", "")).removeprefix("TYPE_").replace("STRING", "BYTES")
        if datatype not in PROTOCOL_DATATYPES:
            raise ConfigError(f"{where}[{i}].data_type: {item.get('data_type')!r} is not a TYPE_<datatype>")
        dims = item.get("dims", [])
        if not isinstance(dims, list) or not all(isinstance(d, int | str) for d in dims):
            raise ConfigError(f"{where}[{i}].dims: expected a list of integers")
        shape = tuple(int(d) for d in dims)
        specs.append(TensorSpec(item["name"], datatype, ((-1,) if batch else ()) + shape))
    return tuple(specs)


def parse_config(name: str, data: dict[str, Any], *, has_file: bool = True) -> ModelConfig:
    """Validate a config.json object; ``ConfigError`` names the bad field."""
    if "name" in data and data["name"] != name:
        raise ConfigError(f"name: config says {data['name']!r} but the folder is {name!r}")
    platform = data.get("platform") or data.get("backend")
    if platform is not None and not isinstance(platform, str):
        raise ConfigError(f"platform: expected a string, got {platform!r}")
    max_batch = _int(data, "max_batch_size", -1, where="", minimum=-1) if "max_batch_size" in data else None

    queue_size = DEFAULT_MAX_QUEUE_SIZE
    batching: Batching | None = None
    dyn = _object(data, "dynamic_batching", where="")
    if dyn is not None:
        policy = _object(dyn, "default_queue_policy", where="dynamic_batching.") or {}
        queue_size = _int(
            policy, "max_queue_size", DEFAULT_MAX_QUEUE_SIZE, where="dynamic_batching.default_queue_policy."
        )
        preferred = dyn.get("preferred_batch_size", [])
        if not isinstance(preferred, list) or not all(isinstance(p, int) and p > 0 for p in preferred):
            raise ConfigError("dynamic_batching.preferred_batch_size: expected a list of positive integers")
        batching = Batching(
            enabled=True,
            max_queue_delay_us=_int(dyn, "max_queue_delay_microseconds", 0, where="dynamic_batching."),
            preferred_batch_sizes=tuple(sorted(preferred)),
            max_queue_size=queue_size or DEFAULT_MAX_QUEUE_SIZE,
        )
    elif has_file:
        batching = Batching(enabled=False)
    if "max_queue_size" in data:  # a Motherboard field: bound the queue of a model that does not batch
        queue_size = _int(data, "max_queue_size", DEFAULT_MAX_QUEUE_SIZE, where="", minimum=1)

    instances: int | None = None
    groups = data.get("instance_group", [])
    if not isinstance(groups, list):
        raise ConfigError("instance_group: expected a list")
    if groups:
        counts = []
        for i, group in enumerate(groups):
            if not isinstance(group, dict):
                raise ConfigError(f"instance_group[{i}]: expected an object")
            kind = group.get("kind", "KIND_CPU")
            if kind not in ("KIND_CPU", "KIND_AUTO", "KIND_GPU", "KIND_MODEL"):
                raise ConfigError(f"instance_group[{i}].kind: {kind!r} is not KIND_CPU/KIND_GPU/KIND_AUTO")
            counts.append(_int(group, "count", 1, where=f"instance_group[{i}].", minimum=1))
        instances = sum(counts)

    policy_data = _object(data, "version_policy", where="") or {"latest": {"num_versions": 1}}
    if len(policy_data) != 1:
        raise ConfigError("version_policy: expected exactly one of latest, all, specific")
    kind, body = next(iter(policy_data.items()))
    if kind == "latest":
        num = _int(body or {}, "num_versions", 1, where="version_policy.latest.", minimum=1)
        version_policy = VersionPolicy("latest", num_versions=num)
    elif kind == "all":
        version_policy = VersionPolicy("all")
    elif kind == "specific":
        versions = (body or {}).get("versions")
        if not isinstance(versions, list) or not versions:
            raise ConfigError("version_policy.specific.versions: expected a non-empty list of versions")
        try:
            version_policy = VersionPolicy("specific", versions=tuple(int(v) for v in versions))
        except (TypeError, ValueError):
            raise ConfigError(f"version_policy.specific.versions: {versions!r} are not integers") from None
    else:
        raise ConfigError(f"version_policy: {kind!r} is not latest, all or specific")

    steps: list[EnsembleStep] = []
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    if platform == ENSEMBLE_PLATFORM:
        scheduling = _object(data, "ensemble_scheduling", where="") or {}
        raw_steps = scheduling.get("step")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise ConfigError("ensemble_scheduling.step: an ensemble needs a non-empty list of steps")
        for i, step in enumerate(raw_steps):
            where = f"ensemble_scheduling.step[{i}]."
            if not isinstance(step, dict) or not isinstance(step.get("model_name"), str):
                raise ConfigError(f"{where}model_name: expected a model name")
            maps = []
            for key in ("input_map", "output_map"):
                mapping = step.get(key)
                if not isinstance(mapping, dict) or not mapping:
                    raise ConfigError(f"{where}{key}: expected a non-empty object of tensor names")
                if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
                    raise ConfigError(f"{where}{key}: names must be strings")
                maps.append(dict(mapping))
            steps.append(
                EnsembleStep(
                    model_name=step["model_name"],
                    model_version=_int(step, "model_version", -1, where=where, minimum=-1),
                    input_map=maps[0],
                    output_map=maps[1],
                )
            )
        batch = (max_batch or 0) > 0
        if "input" in data:
            inputs = _tensor_specs(data["input"], where="input", batch=batch)
        if "output" in data:
            outputs = _tensor_specs(data["output"], where="output", batch=batch)
    return ModelConfig(
        name=name,
        platform=platform,
        max_batch_size=max_batch if max_batch is None or max_batch >= 0 else None,
        batching=batching,
        has_file=has_file,
        instances=instances,
        version_policy=version_policy,
        steps=tuple(steps),
        inputs=inputs,
        outputs=outputs,
        max_queue_size=queue_size,
    )


def read_config(model_dir: Path) -> ModelConfig:
    """Read ``model_dir/config.json`` (defaults when there is none)."""
    path = model_dir / CONFIG_FILE
    if not path.exists():
        return parse_config(model_dir.name, {}, has_file=False)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    try:
        return parse_config(model_dir.name, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class ServingConfig:
    """The configuration a loaded model version runs with: everything resolved, nothing left to derive."""

    name: str
    platform: str
    max_batch_size: int
    batching: Batching
    instances: int
    version_policy: VersionPolicy
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    steps: tuple[EnsembleStep, ...] = ()

    def to_triton_json(self) -> dict[str, Any]:
        """The config as Triton's ``GET /v2/models/{m}/config`` returns it (perf_analyzer reads this)."""
        batch = self.max_batch_size > 0

        def tensor(spec: TensorSpec) -> dict[str, Any]:
            dims = spec.shape[1:] if batch else spec.shape
            datatype = "STRING" if spec.datatype == "BYTES" else spec.datatype  # Triton's name for BYTES
            return {"name": spec.name, "data_type": f"TYPE_{datatype}", "dims": list(dims)}

        out: dict[str, Any] = {
            "name": self.name,
            "platform": self.platform,
            "backend": "" if self.platform == ENSEMBLE_PLATFORM else self.platform.split("_")[0],
            "version_policy": self.version_policy.to_json(),
            "max_batch_size": self.max_batch_size,
            "input": [tensor(s) for s in self.inputs],
            "output": [tensor(s) for s in self.outputs],
            "instance_group": [{"name": f"{self.name}_0", "kind": "KIND_CPU", "count": self.instances}],
            "model_transaction_policy": {"decoupled": False},
        }
        if self.batching.enabled and batch:
            out["dynamic_batching"] = {
                "max_queue_delay_microseconds": self.batching.max_queue_delay_us,
                "preferred_batch_size": list(self.batching.preferred_batch_sizes),
                "default_queue_policy": {"max_queue_size": self.batching.max_queue_size},
            }
        if self.steps:
            out["ensemble_scheduling"] = {
                "step": [
                    {
                        "model_name": s.model_name,
                        "model_version": s.model_version,
                        "input_map": s.input_map,
                        "output_map": s.output_map,
                    }
                    for s in self.steps
                ]
            }
        return out


def batchable(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> bool:
    """Whether every tensor has a dynamic first dimension the server may stack requests along."""
    return all(len(t.shape) >= 1 and t.shape[0] < 0 for t in (*inputs, *outputs))


def resolve(
    config: ModelConfig,
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    *,
    platform: str,
    manifest_max_batch: int = 0,
) -> ServingConfig:
    """Fill what the config leaves open from the model; ``ConfigError`` when the config contradicts it."""
    can_batch = batchable(inputs, outputs)
    if config.max_batch_size is not None:
        max_batch = config.max_batch_size
        if max_batch > 0 and not can_batch:
            fixed = next(t for t in (*inputs, *outputs) if not (t.shape and t.shape[0] < 0))
            raise ConfigError(
                f"max_batch_size: {max_batch} needs a dynamic first dimension on every tensor, "
                f"but {fixed.name} has shape {list(fixed.shape)}"
            )
    elif manifest_max_batch > 0 and can_batch:
        max_batch = manifest_max_batch
    else:
        max_batch = DEFAULT_MAX_BATCH_SIZE if can_batch else 0
    batching = config.batching if config.batching is not None else Batching(enabled=max_batch > 0)
    if batching.enabled and max_batch == 0:
        batching = Batching(enabled=False, max_queue_size=batching.max_queue_size)
    bad = [p for p in batching.preferred_batch_sizes if p > max_batch]
    if bad:
        raise ConfigError(f"dynamic_batching.preferred_batch_size: {bad} exceed max_batch_size {max_batch}")
    if not batching.enabled and config.max_queue_size != batching.max_queue_size:
        batching = Batching(enabled=False, max_queue_size=config.max_queue_size)
    return ServingConfig(
        name=config.name,
        platform=config.platform or platform,
        max_batch_size=max_batch,
        batching=batching,
        instances=config.instances or default_instances(),
        version_policy=config.version_policy,
        inputs=inputs,
        outputs=outputs,
        steps=config.steps,
    )
