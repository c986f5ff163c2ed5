"""Targets from cluster facts, the store's atomicity and checks, and the runner's refusals."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from motherboard.api import constants as c
from motherboard.models.backends.onnxruntime import OnnxRuntimeBackend
from motherboard.models.compiler import compile_with
from motherboard.models.errors import ModelError
from motherboard.models.importer import import_onnx
from motherboard.models.manifest import Latency, Manifest
from motherboard.models.policy import choose
from motherboard.models.runner import load_runner
from motherboard.models.store import ArtifactKey, FilesystemStore
from motherboard.models.targets import get_target, target_for_device, target_for_node


@pytest.mark.parametrize(
    ("labels", "target"),
    [
        ({"kubernetes.io/arch": "amd64"}, "cpu-x86_64"),
        ({"kubernetes.io/arch": "arm64"}, "cpu-aarch64"),
        ({c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "H100-80GB"}, "cuda-sm90"),
        ({c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "A100-40GB"}, "cuda-sm80"),
        ({c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "A10"}, "cuda-sm86"),
        ({c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "T4"}, "cuda-sm75"),
        ({c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "Tesla-T4"}, "cuda-sm75"),
        ({c.LABEL_ACCELERATOR_VENDOR: "nvidia", c.LABEL_ACCELERATOR_MODEL: "NVIDIA-RTX-A6000"}, "cuda-sm86"),
        ({c.LABEL_ACCELERATOR_VENDOR: "huawei", c.LABEL_ACCELERATOR_MODEL: "Ascend310P"}, "ascend-310p"),
        ({c.LABEL_ACCELERATOR_VENDOR: "huawei", c.LABEL_ACCELERATOR_MODEL: "910B"}, "ascend-910b"),
        ({c.LABEL_ACCELERATOR_VENDOR: "cambricon", "kubernetes.io/arch": "arm64"}, "cpu-aarch64"),
    ],
)
def test_node_labels_map_to_one_target(labels: dict[str, str], target: str) -> None:
    assert target_for_node(labels).name == target


def test_an_unknown_gpu_model_names_the_models_that_have_a_target() -> None:
    with pytest.raises(ModelError, match=r"no compile target for nvidia model 'V100'.*H100"):
        target_for_device("nvidia", "V100")
    assert get_target("cpu-arm64").name == "cpu-aarch64"  # alias


def _stored(model_path: Path, store: FilesystemStore):  # type: ignore[no-untyped-def]
    model = import_onnx(model_path)
    return compile_with(
        model, get_target("cpu-x86_64"), OnnxRuntimeBackend(), store, name="mlp", version=1,
        max_batch_size=8, measure_latency=False,
    )  # fmt: skip


def test_a_write_that_dies_before_its_rename_leaves_no_artifact(
    sample_dir: Path, store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _stored(sample_dir / "mlp.onnx", store)
    fresh = FilesystemStore(store.root.parent / "fresh")

    def dies(src: object, dst: object) -> None:
        raise OSError("killed before the rename")

    monkeypatch.setattr("motherboard.models.store.os.rename", dies)
    with pytest.raises(OSError, match="killed before the rename"):
        fresh.put(first.stored.key, first.stored.path, first.manifest)
    monkeypatch.undo()
    assert fresh.keys() == [] and fresh.get(first.stored.key) is None
    assert list(fresh.root.iterdir()) == []  # the temporary folder went with the failure


def test_concurrent_writers_of_one_key_leave_one_artifact(
    sample_dir: Path, store: FilesystemStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _stored(sample_dir / "mlp.onnx", store)
    artifact, manifest, key = first.stored.path, first.manifest, first.stored.key
    fresh = FilesystemStore(store.root.parent / "fresh")
    writers = 6
    barrier = threading.Barrier(writers)
    real_rename = os.rename

    def rename_together(src: str, dst: str) -> None:
        barrier.wait(timeout=30)  # every writer has its complete copy: all race for the one name
        real_rename(src, dst)

    monkeypatch.setattr("motherboard.models.store.os.rename", rename_together)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            fresh.put(key, artifact, manifest)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fresh.keys() == [key]
    assert [p.name for p in fresh.root.iterdir()] == [key.id]
    assert fresh.get(key) is not None


def test_a_corrupt_artifact_is_refused_on_read(sample_dir: Path, store: FilesystemStore) -> None:
    result = _stored(sample_dir / "mlp.onnx", store)
    with result.stored.path.open("r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="stored artifact is corrupt"):
        store.get(result.stored.key)


def test_an_artifact_is_refused_on_a_target_it_was_not_built_for(
    sample_dir: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    result = _stored(sample_dir / "mlp.onnx", store)
    folder = tmp_path / "v1"
    store.export(result.stored.key, folder, "mlp", 1)
    with pytest.raises(ModelError, match="built for target cpu-x86_64, not cpu-aarch64"):
        load_runner(folder, "cpu-aarch64")
    wrong = ArtifactKey(
        result.stored.key.model_digest, "cuda-sm90", "onnxruntime", result.stored.key.backend_version
    )
    os.rename(store.root / result.stored.key.id, store.root / wrong.id)
    with pytest.raises(ModelError, match="built for target cpu-x86_64, not cuda-sm90"):
        store.get(wrong)


def test_the_runner_verifies_the_digest_before_loading(
    sample_dir: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    result = _stored(sample_dir / "mlp.onnx", store)
    folder = tmp_path / "v1"
    store.export(result.stored.key, folder, "mlp", 1)
    runner = load_runner(folder)
    assert runner.run({"x": np.ones((2, 64), np.float32)})["y"].shape == (2, 10)
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(ModelError, match="does not match the manifest"):
        load_runner(folder)


def test_a_plain_onnx_folder_serves_without_a_manifest(sample_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "1"
    folder.mkdir()
    (folder / "model.onnx").write_bytes((sample_dir / "cnn.onnx").read_bytes())
    runner = load_runner(folder)
    assert runner.manifest is None and runner.inputs[0].shape == (-1, 3, 32, 32)
    assert runner.run({"x": np.zeros((3, 3, 32, 32), np.float32)})["y"].shape == (3, 10)


def test_a_manifest_of_another_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "v0"}))
    with pytest.raises(ModelError, match="manifest schema 'v0'"):
        Manifest.read(tmp_path)


def _manifest(backend: str, trials: int = 0) -> Manifest:
    return Manifest(
        model="m", version=1, model_digest="sha256:" + "0" * 64, target="cpu-aarch64", backend=backend,
        backend_version="1", artifact="a", artifact_digest="sha256:" + "1" * 64, artifact_bytes=1,
        inputs=(), outputs=(), tuning_trials=trials,
    )  # fmt: skip


def test_the_policy_never_serves_an_artifact_measured_slower() -> None:
    tvm, ort = _manifest("tvm"), _manifest("onnxruntime")
    fast = (Latency(1, 10, 12), Latency(8, 40, 50))
    slow = (Latency(1, 11, 12), Latency(8, 80, 90))
    assert choose(get_target("cpu-x86_64"), [(tvm, slow), (ort, fast)]).manifest.backend == "onnxruntime"  # type: ignore[union-attr]
    assert choose(get_target("cpu-x86_64"), [(tvm, fast), (ort, slow)]).manifest.backend == "tvm"  # type: ignore[union-attr]


def test_unmeasured_targets_are_served_by_onnxruntime_even_against_tuned_tvm() -> None:
    target = get_target("cpu-aarch64")
    plain = choose(target, [(_manifest("tvm"), ()), (_manifest("onnxruntime"), ())])
    tuned = choose(target, [(_manifest("tvm", trials=500), ()), (_manifest("onnxruntime"), ())])
    only_tvm = choose(target, [(_manifest("tvm"), ())])
    assert plain is not None and plain.manifest.backend == "onnxruntime" and "not measured" in plain.reason
    assert tuned is not None and tuned.manifest.backend == "onnxruntime"
    assert tuned.fallback is not None and tuned.fallback.backend == "tvm"
    assert only_tvm is not None and only_tvm.manifest.backend == "tvm" and "only backend" in only_tvm.reason


def test_a_gpu_target_is_not_served_on_onnxruntimes_cpu_fallback(sample_dir: Path, tmp_path: Path) -> None:
    """This machine's onnxruntime has no CUDA provider: a cuda-sm90 artifact must say so, not run on CPU."""
    folder = tmp_path / "1"
    folder.mkdir()
    (folder / "model.onnx").write_bytes((sample_dir / "mlp.onnx").read_bytes())
    with pytest.raises(ModelError, match="needs ONNX Runtime's CUDAExecutionProvider"):
        load_runner(folder, "cuda-sm90")


def _tvm_version_folder(source: Path, store: FilesystemStore, folder: Path) -> Path:
    """A model-repository version folder holding the TVM artifact of ``source`` for this CPU."""
    from motherboard.models.backends.tvm import TvmBackend

    result = compile_with(
        import_onnx(source), get_target("cpu-x86_64"), TvmBackend(), store, name="mlp", version=1,
        max_batch_size=8, measure_latency=False,
    )  # fmt: skip
    store.export(result.stored.key, folder, "mlp", 1)
    return folder


def test_serving_a_tvm_artifact_maps_no_compiler(
    sample_dir: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    """The serving path imports the TVM runtime only: no ``tvm.relax``, no 260 MB compiler library mapped."""
    import subprocess
    import sys

    folder = _tvm_version_folder(sample_dir / "mlp.onnx", store, tmp_path / "1")
    probe = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from motherboard.models.runner import load_runner\n"
        f"r = load_runner(Path({str(folder)!r}))\n"
        "y = r.run({'x': np.ones((3, 64), np.float32)})['y']\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(y.shape, 'libtvm_compiler' in maps, 'tvm.relax' in sys.modules, r.backend)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={
        k: v for k, v in os.environ.items() if k != "TVM_USE_RUNTIME_LIB"
    })  # fmt: skip
    assert out.stdout.split() == ["(3,", "10)", "False", "False", "tvm"], out.stderr


def test_a_tvm_artifact_takes_read_only_and_unaligned_inputs(
    sample_dir: Path, store: FilesystemStore, tmp_path: Path
) -> None:
    """A server hands over read-only views of request bytes; DLPack refuses those, so they are copied."""
    folder = _tvm_version_folder(sample_dir / "mlp.onnx", store, tmp_path / "1")
    runner = load_runner(folder)
    x = np.arange(2 * 64, dtype=np.float32).reshape(2, 64) / 100
    read_only = np.frombuffer(x.tobytes(), np.float32).reshape(2, 64)
    unaligned = np.frombuffer(bytearray(4 + x.nbytes), np.float32, offset=4).reshape(2, 64)
    unaligned[:] = x
    expected = runner.run({"x": x.copy()})["y"]
    assert not read_only.flags.writeable
    assert unaligned.flags.writeable and unaligned.ctypes.data % 64 != 0
    np.testing.assert_allclose(runner.run({"x": read_only})["y"], expected, rtol=1e-6)
    np.testing.assert_allclose(runner.run({"x": unaligned})["y"], expected, rtol=1e-6)


def test_a_tensor_type_the_protocol_lacks_is_refused_by_name(tmp_path: Path) -> None:
    """A bfloat16 input was silently described as FP32 (clients then sent four bytes per element)."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "bf16",
        [helper.make_tensor_value_info("x", onnx.TensorProto.BFLOAT16, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.BFLOAT16, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path / "1"
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    with pytest.raises(ModelError, match=r"x: ONNX Runtime type tensor\(bfloat16\) has no Open Inference"):
        load_runner(folder)


def test_a_server_can_stop_onnxruntime_threads_spinning() -> None:
    from motherboard.models.backends.ort_runner import session_options

    assert session_options(2, spin=False).get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(2).intra_op_num_threads == 2
