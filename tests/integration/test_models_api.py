"""The Model kind on the real API server: accepted, refused with the field named, its status written
through the status subresource as the model layer computes it, and shown by ``kubectl get mdl``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from motherboard.api.v1alpha1.model import Model
from motherboard.models.samples import write_sample
from motherboard.models.status import model_status
from motherboard.models.store import FilesystemStore
from tests.conftest import Cluster

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "motherboard.io_models.yaml"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_crd(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--field-manager=motherboard-tests", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/models.motherboard.io")


def _manifest(name: str, namespace: str, uri: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"versions": [{"version": 1, "source": {"uri": uri}}], **spec},
    }


def test_kubectl_get_mdl_shows_latest_version_targets_and_readiness(
    cluster: Cluster, model_crd: None, namespace: str, tmp_path: Path
) -> None:
    path = write_sample("mlp", tmp_path)
    manifest = _manifest("mlp", namespace, f"file://{path}", compile={"targets": ["cpu-aarch64"]})
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    stored = json.loads(cluster.kubectl("get", "mdl", "mlp", "-n", namespace, "-o", "json").stdout)
    status = model_status(Model.model_validate(stored), ["cpu-x86_64"], FilesystemStore(tmp_path / "store"))
    body = {"status": status.model_dump(mode="json", by_alias=True, exclude_none=True)}
    cluster.kubectl(
        "patch", "mdl", "mlp", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(body)
    )
    table = cluster.kubectl("get", "mdl", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "FORMAT", "LATEST", "TARGETS", "READY", "AGE"]
    assert table[1].split()[:5] == ["mlp", "ONNX", "1", "cpu-x86_64,cpu-aarch64", "True"]
    back = json.loads(cluster.kubectl("get", "mdl", "mlp", "-n", namespace, "-o", "json").stdout)["status"]
    artifacts = back["versions"][0]["artifacts"]
    assert {(a["target"], a["backend"]) for a in artifacts if a["serving"]} == {
        ("cpu-x86_64", "onnxruntime"),
        ("cpu-aarch64", "onnxruntime"),
    }
    assert back["versions"][0]["summary"]["operators"] == {"MatMul": 2, "Add": 2, "Relu": 1}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"versions": [{"version": 1, "source": {"uri": "file:///m.onnx", "configMap": {"name": "m", "key": "k"}}}]},
         "give exactly one of uri, configMap or persistentVolumeClaim"),
        ({"versions": [{"version": 1, "source": {"uri": "s3://bucket/m.onnx"}}]}, "spec.versions[0].source.uri"),
        ({"versions": [{"version": 1, "source": {"uri": "file:///a"}}, {"version": 1, "source": {"uri": "file:///b"}}]},
         "each version number may appear only once"),
        ({"versions": [{"version": 1, "source": {"uri": "file:///a"}, "sha256": "abc"}]}, "spec.versions[0].sha256"),
        ({"versions": [{"version": 1, "source": {"uri": "file:///a"}}], "inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1]}]},
         "spec.inputs[0].datatype"),
    ],
)  # fmt: skip
def test_a_bad_model_is_refused_by_the_server_naming_the_field(
    cluster: Cluster, model_crd: None, namespace: str, spec: dict[str, object], field: str
) -> None:
    manifest = {"apiVersion": "motherboard.io/v1alpha1", "kind": "Model",
                "metadata": {"name": "bad", "namespace": namespace}, "spec": spec}  # fmt: skip
    result = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", check=False, stdin=yaml.safe_dump(manifest)
    )
    assert result.returncode != 0, "accepted"
    assert field in result.stderr, result.stderr
