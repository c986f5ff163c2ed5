"""The model repository (Triton's layout) and the models loaded from it: versions, hot load and unload.

``<root>/<model>/config.json`` (optional) and ``<root>/<model>/<N>/`` version folders (numeric, not
starting with ``0``; others are ignored, as in Triton), each holding a compiled artifact and its manifest or
a plain ``model.onnx``. Loading happens on a worker thread and the new set of versions replaces the old one
in a single assignment on the event loop, so a request sees either the old or the new set, never a gap; a
version that leaves the set stops taking new requests, finishes the ones it holds, then closes. A load that
fails leaves whatever was serving in place and keeps the reason for the repository index.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motherboard.models.errors import ModelError
from motherboard.models.tensors import TensorSpec
from motherboard.runtime import ensemble
from motherboard.runtime.batcher import Batcher
from motherboard.runtime.codec import InputTensor, check_inputs
from motherboard.runtime.config import (
    ConfigError,
    ModelConfig,
    ServingConfig,
    default_instances,
    read_config,
    resolve,
)
from motherboard.runtime.errors import InferError, Status, invalid, not_found, unavailable
from motherboard.runtime.stats import VersionStats

log = logging.getLogger(__name__)
Arrays = dict[str, np.ndarray[Any, Any]]
ENSEMBLE_VERSION = 1


@dataclass
class LoadedVersion:
    """One served version of a model: its resolved config, its queue and instances, its counters."""

    model: str
    version: int
    config: ServingConfig
    backend: str
    batcher: Batcher | None
    """``None`` for an ensemble (its steps go through their own models' batchers)."""
    stats: VersionStats = field(default_factory=VersionStats)

    @property
    def label(self) -> str:
        return f"model '{self.model}' version {self.version}"


@dataclass
class ServedModel:
    """A model name and the versions its policy serves, newest last."""

    name: str
    source: ModelConfig
    versions: dict[int, LoadedVersion]

    @property
    def latest(self) -> LoadedVersion:
        return self.versions[max(self.versions)]

    def pick(self, version: str | int) -> LoadedVersion:
        """The requested version, or the newest when ``version`` is empty or -1."""
        if version in ("", -1, "-1"):
            return self.latest
        try:
            number = int(version)
        except ValueError:
            raise invalid(f"model '{self.name}': version {version!r} is not an integer") from None
        found = self.versions.get(number)
        if found is None:
            raise not_found(
                f"model '{self.name}' has no version {number} loaded "
                f"(loaded: {', '.join(str(v) for v in sorted(self.versions))})"
            )
        return found


def version_folders(model_dir: Path) -> list[int]:
    """Numeric version folders, as Triton reads them (names starting with 0 are ignored)."""
    found = []
    for entry in model_dir.iterdir():
        if entry.is_dir() and entry.name.isdigit() and not entry.name.startswith("0"):
            found.append(int(entry.name))
    return sorted(found)


class Repository:
    """Every model the server holds, and the only place that loads, swaps and unloads them."""

    def __init__(
        self,
        root: Path,
        *,
        target: str | None = None,
        threads: int = 0,
        drain_timeout: float = 30.0,
    ) -> None:
        self.root = root
        self.target = target
        self.threads = threads
        self.drain_timeout = drain_timeout
        self.models: dict[str, ServedModel] = {}
        self.failures: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    # --- index, load, unload ------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def index(self, ready_only: bool = False) -> list[dict[str, Any]]:
        """The repository extension's index: every model folder, loaded or not, and why not."""
        rows: list[dict[str, Any]] = []
        names = sorted(set(self.model_names()) | set(self.models))
        for name in names:
            served = self.models.get(name)
            if served is not None:
                for version in sorted(served.versions):
                    rows.append({"name": name, "version": str(version), "state": "READY", "reason": ""})
            elif not ready_only:
                reason = self.failures.get(name, "")
                rows.append(
                    {
                        "name": name,
                        "version": "",
                        "state": "UNAVAILABLE" if reason else "UNLOADED",
                        "reason": reason,
                    }
                )
        return rows

    async def load_all(self) -> None:
        """Load every model folder: plain models first, ensembles after the models they use."""
        names = self.model_names()
        configs: dict[str, bool] = {}
        for name in names:
            try:
                configs[name] = read_config(self.root / name).is_ensemble
            except ConfigError:
                configs[name] = False
        for name in sorted(names, key=lambda n: configs[n]):
            try:
                await self.load(name)
            except InferError as exc:
                log.error("%s", exc.message)

    async def load(self, name: str) -> None:
        """(Re)load a model from its folder; on failure the serving versions stay and the reason is kept."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            try:
                await self._load(name)
            except (ConfigError, ModelError) as exc:
                reason = str(exc)
                self.failures[name] = reason
                kept = " (the versions already serving stay)" if name in self.models else ""
                raise InferError(Status.INVALID, f"failed to load '{name}': {reason}{kept}") from None
            self.failures.pop(name, None)

    async def _load(self, name: str) -> None:
        model_dir = self.root / name
        if not model_dir.is_dir():
            raise ConfigError(f"no model folder {model_dir}")
        config = await asyncio.to_thread(read_config, model_dir)
        old = self.models.get(name)
        if config.is_ensemble:
            loaded = {ENSEMBLE_VERSION: self._plan_ensemble(config)}
        else:
            available = version_folders(model_dir)
            wanted = config.version_policy.select(available)
            if not wanted:
                raise ConfigError(
                    f"{model_dir}: version policy {config.version_policy.to_json()} selects none of the "
                    f"version folders {available or '(none)'}"
                )
            loaded = {}
            fresh: list[LoadedVersion] = []
            try:
                for version in wanted:
                    if old is not None and version in old.versions and old.source == config:
                        loaded[version] = old.versions[version]
                        continue
                    made = await self._load_version(name, version, config)
                    fresh.append(made)
                    loaded[version] = made
            except BaseException:
                for made in fresh:  # nothing half-loaded stays behind
                    if made.batcher is not None:
                        await made.batcher.close(0)
                raise
        # The swap: one assignment on the event loop thread; requests already queued on a version that
        # leaves finish on it (retire drains before closing).
        self.models[name] = ServedModel(name, config, loaded)
        if old is not None:
            for version, previous in old.versions.items():
                if loaded.get(version) is not previous:
                    self._retire(previous)
        log.info("loaded model '%s' versions %s", name, sorted(loaded))

    async def _load_version(self, name: str, version: int, config: ModelConfig) -> LoadedVersion:
        from motherboard.models.runner import load_runner

        folder = self.root / name / str(version)
        instances = config.instances or default_instances()
        threads = self.threads or max(1, (os.cpu_count() or 1) // instances)

        def load() -> list[Any]:
            runners: list[Any] = []
            try:
                for _ in range(instances):
                    runners.append(load_runner(folder, self.target, threads=threads, spin=False))
            except BaseException:
                for runner in runners:
                    runner.close()
                raise
            return runners

        runners = await asyncio.to_thread(load)
        first = runners[0]
        manifest_batch = first.manifest.max_batch_size if first.manifest is not None else 0
        try:
            serving = resolve(
                config,
                tuple(first.inputs),
                tuple(first.outputs),
                platform="onnxruntime_onnx" if first.backend == "onnxruntime" else first.backend,
                manifest_max_batch=manifest_batch,
            )
        except ConfigError:
            for runner in runners:
                runner.close()
            raise
        if not first.thread_safe and instances > 1:
            log.info("%s: %s runners are not thread-safe; one runner per instance", name, first.backend)
        stats = VersionStats()
        label = f"model '{name}' version {version}"
        batcher = Batcher(label, runners, serving.max_batch_size, serving.batching, stats)
        return LoadedVersion(name, version, serving, first.backend, batcher, stats)

    def _plan_ensemble(self, config: ModelConfig) -> LoadedVersion:
        specs: dict[str, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]] = {}
        for step in config.steps:
            served = self.models.get(step.model_name)
            if served is None:
                continue
            try:
                version = served.pick(step.model_version)
            except InferError as exc:
                raise ConfigError(exc.message) from None
            specs[step.model_name] = (version.config.inputs, version.config.outputs)
        inputs, outputs = ensemble.plan(config.name, config.steps, specs, config.inputs, config.outputs)
        serving = resolve(config, inputs, outputs, platform="ensemble")
        if config.max_batch_size is None:  # an ensemble batches nothing itself; its steps do
            serving = ServingConfig(**{**serving.__dict__, "max_batch_size": 0})
        return LoadedVersion(config.name, ENSEMBLE_VERSION, serving, "ensemble", None)

    async def unload(self, name: str) -> None:
        """Stop serving a model: new requests get NOT_FOUND, held ones finish, then it is closed."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            served = self.models.pop(name, None)
            if served is None:
                raise not_found(f"model '{name}' is not loaded")
            for version in served.versions.values():
                self._retire(version)

    def _retire(self, version: LoadedVersion) -> None:
        if version.batcher is None:
            return
        task = asyncio.get_running_loop().create_task(version.batcher.close(self.drain_timeout))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        log.info("retiring %s", version.label)

    async def close(self) -> None:
        """Drain and close every model (shutdown)."""
        for name in list(self.models):
            for version in self.models.pop(name).versions.values():
                self._retire(version)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    # --- serving ------------------------------------------------------------------------------------

    def get(self, name: str, version: str | int = "") -> LoadedVersion:
        served = self.models.get(name)
        if served is None:
            reason = self.failures.get(name)
            detail = f": it failed to load: {reason}" if reason else ""
            raise not_found(f"model '{name}' is not loaded{detail}")
        return served.pick(version)

    def queue_depth(self) -> int:
        return sum(
            v.batcher.depth
            for m in self.models.values()
            for v in m.versions.values()
            if v.batcher is not None
        )

    async def infer(
        self, name: str, version: str | int, inputs: list[InputTensor], requested: list[str] | None = None
    ) -> tuple[LoadedVersion, Arrays]:
        """Serve one decoded request: check it against the model, queue it, return the outputs."""
        start = time.perf_counter_ns()
        served = self.get(name, version)
        ok = False
        reason = "REJECTED"
        rows = 1
        try:
            rows = check_inputs(name, served.config.inputs, inputs, served.config.max_batch_size)
            if requested:
                known = {s.name for s in served.config.outputs}
                unknown = [r for r in requested if r not in known]
                if unknown:
                    raise invalid(
                        f"model '{name}' has no output named {', '.join(repr(u) for u in unknown)} "
                        f"(outputs: {', '.join(sorted(known))})"
                    )
            feeds = {t.name: t.array for t in inputs}
            if served.batcher is None:
                reason = "OTHER"
                outputs = await self._run_ensemble(served, feeds)
            else:
                future = served.batcher.submit(feeds, rows)
                reason = "BACKEND"
                outputs = await future
            ok = True
            return served, outputs
        except asyncio.CancelledError:
            reason = "CANCELED"
            raise
        finally:
            served.stats.record_request(ok, time.perf_counter_ns() - start, reason)
            if (
                ok and served.batcher is None
            ):  # an ensemble counts its own inferences (its steps run elsewhere)
                served.stats.inference_count += rows
                served.stats.execution_count += 1

    async def _run_ensemble(self, served: LoadedVersion, feeds: Arrays) -> Arrays:
        async def run_step(model: str, version: int, step_feeds: Arrays) -> Arrays:
            step_inputs = [
                InputTensor(k, _datatype(v), tuple(v.shape), np.ascontiguousarray(v))
                for k, v in step_feeds.items()
            ]
            try:
                _, outputs = await self.infer(model, version, step_inputs)
            except InferError as exc:
                status = Status.UNAVAILABLE if exc.status is Status.UNAVAILABLE else exc.status
                raise InferError(status, f"ensemble '{served.model}' step '{model}': {exc.message}") from None
            return outputs

        tensors = await ensemble.run(served.config.steps, feeds, run_step)
        return {spec.name: tensors[spec.name] for spec in served.config.outputs}


def _datatype(array: np.ndarray[Any, Any]) -> str:
    from motherboard.models.tensors import datatype_of_numpy

    return datatype_of_numpy(array.dtype)


def select_outputs(
    served: LoadedVersion, outputs: Mapping[str, np.ndarray[Any, Any]], requested: list[str] | None
) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """The outputs a request asked for, in the order it asked (all, in model order, when it named none)."""
    if requested is None:
        return [(spec.name, outputs[spec.name]) for spec in served.config.outputs]
    chosen = []
    for name in requested:
        if name not in outputs:
            raise invalid(
                f"model '{served.model}' has no output named '{name}' "
                f"(outputs: {', '.join(s.name for s in served.config.outputs)})"
            )
        chosen.append((name, outputs[name]))
    return chosen


__all__ = ["LoadedVersion", "Repository", "ServedModel", "select_outputs", "unavailable"]
