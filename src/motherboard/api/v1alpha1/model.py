"""``Model``: a model imported once, analysed, and compiled per hardware target.

A Model names its format (ONNX), its versions (each a source the operator can read, optionally pinned by
digest), optional overrides of its inputs and outputs (to fix a dynamic dimension), the largest batch the
runtime may form, and compile preferences (which backends, how much tuning). Its status reports, per
version, the model's digest and graph summary and, per target, the artifacts built and which one serves.
Target names are those of ``motherboard model targets`` (``cpu-x86_64``, ``cpu-aarch64``, ``cuda-sm90``,
``ascend-910b``, ...).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from motherboard.api.base import ApiModel, Condition, DnsLabel, Resource

TARGET_PATTERN = r"^[a-z0-9]+(-[a-z0-9_]+)*$"
SHA256_PATTERN = r"^(sha256:)?[0-9a-f]{64}$"
DATATYPES = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
)
"""The Open Inference Protocol's tensor datatypes (what Triton and KServe v2 call them)."""


class ModelFormat(StrEnum):
    """The format a model's source is in."""

    ONNX = "ONNX"


class CompileBackend(StrEnum):
    """A compiler backend the model layer may use."""

    TVM = "tvm"
    ONNX_RUNTIME = "onnxruntime"


class ModelConditionType(StrEnum):
    """Condition types a Model carries."""

    IMPORTED = "Imported"
    """Every version's source was read, matched its pin, passed the ONNX checker and was summarised."""
    COMPILED = "Compiled"
    """Every target the model is needed on has an artifact."""
    READY = "Ready"
    """The latest version can be served on every target it is needed on."""


class ConfigMapSource(ApiModel):
    """A model stored in a ConfigMap's ``binaryData`` (small models, up to the API's 1 MiB object size)."""

    name: DnsLabel
    """The ConfigMap, in the Model's namespace."""
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    """The key under ``binaryData`` (or ``data``) holding the ONNX file."""


class VolumeSource(ApiModel):
    """A model file on a PersistentVolumeClaim."""

    claim_name: DnsLabel
    """The PersistentVolumeClaim, in the Model's namespace."""
    path: str = Field(min_length=1, max_length=1024, pattern=r"^[^/].*$")
    """The file's path inside the volume, relative (no leading ``/``)."""


class ModelSource(ApiModel):
    """Where a version's file comes from: exactly one of ``uri``, ``configMap`` or ``persistentVolumeClaim``."""

    uri: str | None = Field(default=None, max_length=2048, pattern=r"^(file|https?)://.+$")
    """``file:///models/x.onnx`` (a path the operator can read), or ``http://`` / ``https://``."""
    config_map: ConfigMapSource | None = None
    """A key of a ConfigMap in the Model's namespace."""
    persistent_volume_claim: VolumeSource | None = None
    """A file on a PersistentVolumeClaim in the Model's namespace."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        given = [f for f in ("uri", "config_map", "persistent_volume_claim") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("source: give exactly one of uri, configMap or persistentVolumeClaim")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "(has(self.uri) ? 1 : 0) + (has(self.configMap) ? 1 : 0) + "
            "(has(self.persistentVolumeClaim) ? 1 : 0) == 1",
            "message": "give exactly one of uri, configMap or persistentVolumeClaim",
        }
    ]


class ModelVersion(ApiModel):
    """One version of the model."""

    version: int = Field(ge=1, le=1_000_000)
    """The version number (as Triton's version folders: 1, 2, ...)."""
    source: ModelSource
    """Where this version's file is."""
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    """The file's SHA-256 (64 hex digits, optionally after ``sha256:``); a mismatch refuses the version."""


class TensorOverride(ApiModel):
    """An input or output as the model should be compiled: fix dynamic dimensions, confirm the type."""

    name: str = Field(min_length=1, max_length=256)
    """The tensor's name in the model."""
    datatype: str = Field(json_schema_extra={"enum": list(DATATYPES)})
    """Its datatype in the protocol's words (``FP32``, ``INT64``, ...); must match the model's."""
    shape: list[int] = Field(max_length=16)
    """Its shape, ``-1`` for a dimension that stays dynamic (e.g. ``[-1, 3, 224, 224]``)."""

    @field_validator("datatype")
    @classmethod
    def _known_datatype(cls, value: str) -> str:
        if value not in DATATYPES:
            raise ValueError(f"datatype {value!r} is not one of {', '.join(DATATYPES)}")
        return value

    @field_validator("shape")
    @classmethod
    def _dimensions(cls, value: list[int]) -> list[int]:
        bad = [d for d in value if d < -1 or d == 0]
        if bad:
            raise ValueError(f"shape {value}: dimensions are positive, or -1 for dynamic (not {bad[0]})")
        return value


class CompilePreferences(ApiModel):
    """How the model may be compiled."""

    backends: list[CompileBackend] = Field(
        default_factory=lambda: [CompileBackend.TVM, CompileBackend.ONNX_RUNTIME], min_length=1, max_length=4
    )
    """Backends allowed; the adaptation policy serves the fastest measured one per target."""
    tuning_trials: int = Field(default=0, ge=0, le=100_000)
    """TVM MetaSchedule trials per target (a total; a larger value resumes from the stored records)."""
    targets: list[str] = Field(default_factory=list, max_length=32)
    """Targets to compile for in any case (besides those the serving jobs need), e.g. ``cpu-aarch64``."""

    @field_validator("targets")
    @classmethod
    def _target_names(cls, value: list[str]) -> list[str]:
        import re

        bad = [t for t in value if not re.match(TARGET_PATTERN, t)]
        if bad:
            raise ValueError(f"targets: {bad[0]!r} is not a target name; see `motherboard model targets`")
        return value


class ModelSpec(ApiModel):
    """The desired state of a Model."""

    format: ModelFormat = ModelFormat.ONNX
    """The format of every version's file."""
    versions: list[ModelVersion] = Field(min_length=1, max_length=32)
    """The versions; the highest number is the latest."""
    inputs: list[TensorOverride] = Field(default_factory=list, max_length=64)
    """Input overrides (optional): fix dynamic dimensions the compiler should specialise."""
    outputs: list[TensorOverride] = Field(default_factory=list, max_length=64)
    """Output overrides (optional)."""
    max_batch_size: int | None = Field(default=None, ge=0, le=4096)
    """Largest batch the runtime may form (0: no batching); default 64 when every input's first
    dimension is dynamic, else 0."""
    compile: CompilePreferences = Field(default_factory=CompilePreferences)
    """Compile preferences."""

    @field_validator("versions")
    @classmethod
    def _unique_versions(cls, value: list[ModelVersion]) -> list[ModelVersion]:
        numbers = [v.version for v in value]
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        if dupes:
            raise ValueError(f"versions: version {dupes[0]} appears more than once")
        return value

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "self.versions.all(v, self.versions.exists_one(w, w.version == v.version))",
            "message": "each version number may appear only once",
            "fieldPath": ".versions",
        }
    ]


class LatencyStatus(ApiModel):
    """Measured latency of an artifact at one batch size."""

    batch: int = Field(ge=1)
    """The batch size."""
    p50_us: float = Field(ge=0)
    """Median latency in microseconds."""
    p99_us: float = Field(ge=0)
    """99th percentile latency in microseconds."""


class ArtifactStatus(ApiModel):
    """One compiled artifact of a version for a target."""

    target: str = Field(pattern=TARGET_PATTERN)
    """The target it was built for."""
    backend: CompileBackend
    """The backend that built it."""
    backend_version: str = Field(max_length=64)
    """That backend's version."""
    digest: str = Field(pattern=SHA256_PATTERN)
    """The artifact's SHA-256 (the runtime verifies it before loading)."""
    size_bytes: int = Field(ge=0)
    """The artifact's size."""
    compile_seconds: float = Field(default=0, ge=0)
    """How long the compile took."""
    tuning_trials: int = Field(default=0, ge=0)
    """Tuning records the artifact was built with."""
    latency: list[LatencyStatus] = Field(default_factory=list, max_length=16)
    """Measured latency, where the target could be measured."""
    serving: bool = False
    """Whether the adaptation policy serves this artifact on its target."""
    reason: str = Field(default="", max_length=1024)
    """Why it serves (or, for the runner-up, why not)."""


class DynamicDimension(ApiModel):
    """A dynamic dimension of an input."""

    tensor: str
    """The input."""
    axis: int = Field(ge=0)
    """The axis."""
    name: str = ""
    """Its symbolic name in the model, if any."""


class GraphSummaryStatus(ApiModel):
    """What the model is made of."""

    opset: int = Field(ge=0)
    """The ONNX opset."""
    operators: dict[str, int] = Field(default_factory=dict)
    """Operator type → count."""
    parameters: int = Field(ge=0)
    """Number of parameters (weights and constants)."""
    parameter_bytes: int = Field(ge=0)
    """Their size in bytes."""
    flops_per_sample: int = Field(ge=0)
    """Estimated floating-point operations per sample (the batch taken as 1, other dynamic dimensions at
    the sizes in ``assumedDims``)."""
    assumed_dims: dict[str, int] = Field(default_factory=dict)
    """Dynamic dimensions other than the batch (by symbolic name) and the size FLOPs were estimated at."""
    dynamic_dims: list[DynamicDimension] = Field(default_factory=list)
    """The inputs' dynamic dimensions."""


class ModelVersionStatus(ApiModel):
    """The observed state of one version."""

    version: int = Field(ge=1)
    """The version number."""
    digest: str | None = Field(default=None, pattern=SHA256_PATTERN)
    """The digest of the version's file (with overrides applied)."""
    size_bytes: int | None = Field(default=None, ge=0)
    """The file's size."""
    summary: GraphSummaryStatus | None = None
    """The graph summary."""
    artifacts: list[ArtifactStatus] = Field(default_factory=list, max_length=64)
    """Artifacts per target and backend."""


class ModelStatus(ApiModel):
    """The observed state of a Model, written by the operator."""

    versions: list[ModelVersionStatus] = Field(default_factory=list)
    """Per version: digest, summary, artifacts."""
    latest_version: int | None = Field(default=None, ge=1)
    """The highest version number (for display)."""
    targets: str = ""
    """The targets with a serving artifact of the latest version, comma-separated (for display)."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """``Imported``, ``Compiled``, ``Ready``."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status describes."""


class Model(Resource):
    """A model imported once and compiled per hardware target."""

    KIND: ClassVar[str] = "Model"
    PLURAL: ClassVar[str] = "models"
    SHORT_NAMES: ClassVar[list[str]] = ["mdl"]
    NAMESPACED: ClassVar[bool] = True
    PRINTER_COLUMNS: ClassVar[list[dict[str, Any]]] = [
        {"name": "Format", "type": "string", "jsonPath": ".spec.format"},
        {"name": "Latest", "type": "integer", "jsonPath": ".status.latestVersion"},
        {"name": "Targets", "type": "string", "jsonPath": ".status.targets"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]

    api_version: Literal["motherboard.io/v1alpha1"] = "motherboard.io/v1alpha1"
    kind: Literal["Model"] = "Model"
    spec: ModelSpec
    """The desired state."""
    status: ModelStatus | None = None
    """The observed state, written by the operator."""
