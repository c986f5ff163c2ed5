"""Motherboard's CRDs and examples against the real API server: accepted, and bad manifests refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:  # the fixture's type; tests/integration is not a package, so no runtime import
    from conftest import Cluster

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

CRDS = sorted((REPO / "crds").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


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


def _bad_manifests() -> list[object]:
    try:
        from tests.unit.api.bad_manifests import BAD_MANIFESTS
    except ImportError:  # the table is the API's; without it there is nothing server-side to hold to it
        return []
    return [pytest.param(b, id=b.name) for b in BAD_MANIFESTS if b.server_checks]


@pytest.mark.parametrize("bad", _bad_manifests())
def test_bad_manifest_is_rejected_by_the_server_naming_the_field(
    cluster: Cluster, example_namespaces: None, bad: object
) -> None:
    manifest, field = bad.manifest, bad.field  # type: ignore[attr-defined]
    result = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, stdin=json.dumps(manifest))
    assert result.returncode != 0, f"accepted: {manifest}"
    assert field in result.stderr, result.stderr
