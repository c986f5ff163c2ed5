"""Invalid manifests are rejected with messages that name the field; the examples are all valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from motherboard.api.manifests import ManifestError, load_manifests, parse_object
from motherboard.api.v1alpha1 import AIJob, DevicePool, Queue
from tests.unit.api.bad_manifests import BAD_MANIFESTS, BadManifest
from tests.unit.api.builders import aijob, devicepool, queue

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_table_covers_at_least_fifteen_cases() -> None:
    assert len(BAD_MANIFESTS) >= 15
    assert len({case.name for case in BAD_MANIFESTS}) == len(BAD_MANIFESTS)


@pytest.mark.parametrize("case", BAD_MANIFESTS, ids=lambda case: case.name)
def test_bad_manifest_is_rejected_naming_the_field(case: BadManifest) -> None:
    with pytest.raises(ManifestError) as error:
        parse_object(case.manifest)
    assert case.field in str(error.value), str(error.value)


@pytest.mark.parametrize("manifest", [aijob(), queue(), devicepool()], ids=["aijob", "queue", "devicepool"])
def test_builders_produce_valid_manifests(manifest: dict[str, object]) -> None:
    parse_object(manifest)


def test_error_lists_every_problem_with_its_path() -> None:
    bad = aijob(tasks=[{"name": "a", "replicas": -1, "template": {"spec": {"containers": [{"name": "c"}]}}}])
    bad["spec"]["type"] = "Nope"
    with pytest.raises(ManifestError) as error:
        parse_object(bad)
    message = str(error.value)
    assert "spec.type" in message
    assert "spec.tasks[0].replicas" in message


def test_wrong_api_version_is_named() -> None:
    with pytest.raises(ManifestError, match="apiVersion"):
        parse_object({"apiVersion": "motherboard.io/v1", "kind": "AIJob", "spec": {}})


def test_every_example_file_is_valid_and_the_required_examples_exist() -> None:
    objects = [m.obj for path in sorted(EXAMPLES.rglob("*.yaml")) for m in load_manifests(path)]
    jobs = [o for o in objects if isinstance(o, AIJob)]
    queues = [o for o in objects if isinstance(o, Queue)]
    pools = [o for o in objects if isinstance(o, DevicePool)]
    ddp = [
        j
        for j in jobs
        if j.spec.framework == "PyTorch"
        and j.spec.gang is not None
        and sum(t.replicas * (t.devices.count if t.devices else 0) for t in j.spec.tasks) == 8
    ]
    fractional = [
        j for j in jobs if any(t.devices and t.devices.sharing.mode == "Fraction" for t in j.spec.tasks)
    ]
    edge_npu = [
        j
        for j in jobs
        if j.spec.type == "Inference"
        and j.spec.placement.site_kind == "Edge"
        and any(t.devices and t.devices.vendor == "huawei" for t in j.spec.tasks)
    ]
    borrowing = [q for q in queues if any(quota.borrowing_limit for quota in q.spec.quotas)]
    assert ddp and fractional and edge_npu
    assert len([q for q in queues if q.spec.parent]) >= 3 and borrowing
    assert len(pools) >= 2


def test_a_broken_example_reports_file_document_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "bad.yaml"
    broken.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
        "apiVersion: motherboard.io/v1alpha1\nkind: Queue\nmetadata: {name: q}\nspec: {weight: -3}\n"
    )
    with pytest.raises(ManifestError) as error:
        load_manifests(broken)
    assert f"{broken}#1" in str(error.value)
    assert "spec.weight" in str(error.value)
