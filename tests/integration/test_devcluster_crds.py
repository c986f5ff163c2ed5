"""Motherboard's CRDs and examples against the real API server: accepted, and bad manifests refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cluster
from tests.unit.api.bad_manifests import BAD_MANIFESTS, BadManifest
from tests.unit.api.builders import aijob, devicepool, queue

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

CRDS = sorted((REPO / "crds").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))


@pytest.fixture(scope="module")
def crds_installed(cluster: Cluster) -> list[str]:
    """Apply every CRD server-side and wait until each is Established; returns their names."""
    assert CRDS, "no CRDs in crds/"
    names: list[str] = []
    for path in CRDS:
        cluster.kubectl("apply", "--server-side", "--field-manager=motherboard-tests", "-f", str(path))
        names += [doc["metadata"]["name"] for doc in yaml.safe_load_all(path.read_text()) if doc]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names))
    return names


def test_every_crd_is_accepted_and_established(cluster: Cluster, crds_installed: list[str]) -> None:
    listed = cluster.kubectl("get", "crd", "-o", "name").stdout.split()
    assert {f"customresourcedefinition.apiextensions.k8s.io/{n}" for n in crds_installed} <= set(listed)


@pytest.fixture(scope="module")
def example_namespaces(cluster: Cluster, crds_installed: list[str]) -> None:
    """Namespaces the examples declare, created for real: a server dry-run cannot create them for later files."""
    docs = [
        d for p in EXAMPLES for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == "Namespace"
    ]
    if docs:
        cluster.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(docs))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_passes_server_side_dry_run(cluster: Cluster, example_namespaces: None, path: Path) -> None:
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr


def test_there_are_examples_to_check() -> None:
    assert EXAMPLES, "no examples/*.yaml"


@pytest.mark.parametrize("bad", [b for b in BAD_MANIFESTS if b.server_checks], ids=lambda b: b.name)
def test_bad_manifest_is_rejected_by_the_server_naming_the_field(
    cluster: Cluster, example_namespaces: None, bad: BadManifest
) -> None:
    result = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", check=False, stdin=json.dumps(bad.manifest)
    )
    assert result.returncode != 0, f"accepted: {bad.manifest}"
    assert bad.field in result.stderr, result.stderr


MINIMAL: list[dict[str, Any]] = [
    {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "minimal"}},
    devicepool("minimal", sharing=None),
    aijob(queue=None),
    queue("with-parent"),
]


@pytest.mark.parametrize("manifest", MINIMAL, ids=lambda m: f"{m['kind']}-{m['metadata']['name']}")
def test_minimal_objects_are_accepted_with_server_defaults(
    cluster: Cluster, example_namespaces: None, manifest: dict[str, Any]
) -> None:
    """Optional fields left out must not trip a CEL rule (CEL fails on a missing key unless guarded)."""
    body = {k: v for k, v in manifest.items()}
    body["spec"] = {k: v for k, v in (manifest.get("spec") or {}).items() if v is not None} or None
    if body["spec"] is None:
        del body["spec"]
    result = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", check=False, stdin=json.dumps(body)
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    if created["kind"] == "AIJob":
        assert created["spec"]["type"] == "Training" and created["spec"]["tasks"][0]["replicas"] == 2
