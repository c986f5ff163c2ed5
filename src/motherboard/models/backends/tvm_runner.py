"""The TVM runtime in the serving path: a Relax virtual machine over an exported shared library.

Only ``tvm.runtime`` is imported here, and ``TVM_USE_RUNTIME_LIB=1`` is set before the first ``import tvm``
of the process, so a server does not map TVM's 260 MB compiler library. Inputs are handed over without a copy
(DLPack) when numpy's buffer is writable and 64-byte aligned, as TVM requires for zero-copy; otherwise
copied once.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motherboard.models.errors import ModelError
from motherboard.models.manifest import Manifest
from motherboard.models.targets import DeviceKind, Target
from motherboard.models.tensors import TensorSpec

ALIGNMENT = 64


def _import_runtime() -> Any:
    if "tvm" not in sys.modules:
        os.environ.setdefault("TVM_USE_RUNTIME_LIB", "1")
    import tvm.runtime

    return tvm.runtime


class TvmRunner:
    """One Relax VM; ``run`` is serialised by a lock (a VM is not re-entrant), so load one per instance."""

    backend = "tvm"
    thread_safe = False

    def __init__(self, path: Path, target: Target, manifest: Manifest, threads: int = 0) -> None:
        if not target.runs_here and target.kind is DeviceKind.CPU:
            raise ModelError(f"{path}: target {target.name} does not run on this machine's CPU")
        if threads:
            os.environ.setdefault("TVM_NUM_THREADS", str(threads))
        runtime = _import_runtime()
        from tvm.runtime.vm import VirtualMachine

        self._runtime = runtime
        devices = {DeviceKind.CUDA: runtime.cuda, DeviceKind.ROCM: runtime.rocm}
        self._device = devices.get(target.kind, runtime.cpu)(0)
        try:
            module = runtime.load_module(str(path))
            self._vm = VirtualMachine(module, self._device)
        except Exception as exc:  # TVM raises TVMError and friends
            raise ModelError(f"{path}: the TVM runtime cannot load it: {exc}") from None
        self._main = self._vm["main"]
        self._lock = threading.Lock()
        self.target = target.name
        self.manifest: Manifest | None = manifest
        self._inputs, self._outputs = manifest.inputs, manifest.outputs
        # An artifact built for a fixed batch (the importer could not keep it symbolic) runs a batch
        # sample by sample; the manifest still declares the model's dynamic batch.
        self._static_batch = int(manifest.extra.get("staticBatch", 0))

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _tensor(self, array: np.ndarray[Any, Any]) -> Any:
        array = np.ascontiguousarray(array)
        # DLPack cannot hand over a read-only buffer (a server's request bytes are read-only views).
        zero_copy = array.flags.writeable and array.ctypes.data % ALIGNMENT == 0
        if self._device.dlpack_device_type() == 1 and zero_copy:
            return self._runtime.from_dlpack(array)
        return self._runtime.tensor(array, self._device)

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        if self._static_batch:
            return self._run_per_sample(feeds)
        return self._run(feeds)

    def _run_per_sample(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        size = self._static_batch
        total = next(iter(feeds.values())).shape[0] if feeds else 0
        parts = [self._run({k: v[i : i + size] for k, v in feeds.items()}) for i in range(0, total, size)]
        return {spec.name: np.concatenate([p[spec.name] for p in parts]) for spec in self._outputs}

    def _run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        args = [self._tensor(feeds[spec.name]) for spec in self._inputs]
        with self._lock:
            result = self._main(*args)
            values = list(result) if not hasattr(result, "numpy") else [result]
            arrays = [v.numpy() for v in values]
        if len(arrays) != len(self._outputs):
            raise ModelError(
                f"the artifact returned {len(arrays)} outputs, the manifest names {len(self._outputs)}"
            )
        return {spec.name: arr for spec, arr in zip(self._outputs, arrays, strict=True)}

    def close(self) -> None:
        with self._lock:  # a run in progress finishes first
            del self._main, self._vm
