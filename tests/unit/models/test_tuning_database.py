"""Tuning budgets are totals per model × target database: resumed, never repeated, part of the key."""

from __future__ import annotations

from pathlib import Path

from motherboard.models.compiler import _tuning
from motherboard.models.importer import import_onnx
from motherboard.models.targets import get_target
from motherboard.models.tuning import (
    RECORDS,
    budget_spent,
    database_dir,
    record_budget,
    records_count,
    records_digest,
)


def _records(database: Path, count: int) -> None:
    database.mkdir(parents=True, exist_ok=True)
    (database / RECORDS).write_text("".join(f"[0, [[{i}], 1.0]]\n" for i in range(count)))


def test_a_budget_is_a_total_that_resumes_where_the_last_run_stopped(
    sample_dir: Path, tmp_path: Path
) -> None:
    model = import_onnx(sample_dir / "mlp.onnx")
    target = get_target("cpu-x86_64")
    assert _tuning(model, target, "tvm", 0, tmp_path) is None  # nothing asked, nothing recorded
    assert _tuning(model, target, "onnxruntime", 64, tmp_path) is None  # only TVM tunes
    first = _tuning(model, target, "tvm", 64, tmp_path)
    assert first is not None and first.trials == 64
    assert first.database == database_dir(tmp_path, model.digest, "cpu-x86_64")
    _records(first.database, 40)
    resumed = _tuning(model, target, "tvm", 64, tmp_path)
    assert resumed is not None and resumed.trials == 24
    _records(first.database, 64)
    done = _tuning(model, target, "tvm", 64, tmp_path)
    assert done is not None and done.trials == 0  # apply the records, tune no further
    reused = _tuning(model, target, "tvm", 0, tmp_path)
    assert reused is not None and reused.trials == 0  # a later compile without a budget still uses them


def test_each_database_belongs_to_one_model_and_target(sample_dir: Path, tmp_path: Path) -> None:
    mlp = import_onnx(sample_dir / "mlp.onnx")
    cnn = import_onnx(sample_dir / "cnn.onnx")
    dirs = {database_dir(tmp_path, m.digest, t) for m in (mlp, cnn) for t in ("cpu-x86_64", "cpu-aarch64")}
    assert len(dirs) == 4


def test_a_run_that_records_fewer_candidates_than_its_budget_still_counts_as_done(tmp_path: Path) -> None:
    """MetaSchedule records fewer candidates than it is given when a task's space runs out (a reshape
    takes one): counted by records alone, every later compile would tune again and miss the cache."""
    _records(tmp_path, 40)
    assert budget_spent(tmp_path) == 40
    record_budget(tmp_path, 64)  # what a 64-trial run that recorded 40 candidates writes
    assert budget_spent(tmp_path) == 64
    record_budget(tmp_path, 32)  # a smaller budget never lowers what was spent
    assert budget_spent(tmp_path) == 64
    assert records_digest(tmp_path) is not None


def test_the_records_digest_is_part_of_the_artifact_key(tmp_path: Path) -> None:
    _records(tmp_path, 3)
    before = records_digest(tmp_path)
    _records(tmp_path, 4)
    after = records_digest(tmp_path)
    assert records_count(tmp_path) == 4 and before != after
