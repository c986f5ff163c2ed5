"""The generated CRDs are structural, documented, and in sync with the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from motherboard.api import crdgen
from motherboard.api.v1alpha1 import KINDS, AIJob
from motherboard.cli import app

CRDS = Path(__file__).resolve().parents[3] / "crds"


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_schema_is_structural(kind: type) -> None:
    """Every node has a type (or is int-or-string / preserve-unknown), no refs, no unions, no false."""
    schema = crdgen.openapi_schema(kind)
    for path, node in walk(schema):
        assert "$ref" not in node and "oneOf" not in node and "allOf" not in node, path
        assert node.get("additionalProperties") is not False, path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        else:
            assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
        if node.get("type") == "array":
            assert "items" in node, path


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_spec_and_status_field_is_documented(kind: type) -> None:
    schema = crdgen.openapi_schema(kind)
    undocumented = [
        path
        for path, node in walk(schema)
        if path.startswith((".spec.", ".status."))
        and not path.endswith(("[]", "{}"))
        and not node.get("description")
    ]
    assert undocumented == []


def test_kubectl_explain_tasks_shows_the_docstrings() -> None:
    tasks = crdgen.openapi_schema(AIJob)["properties"]["spec"]["properties"]["tasks"]
    assert tasks["description"] == "The job's tasks; at least one."
    assert tasks["items"]["properties"]["replicas"]["description"] == "Number of pods of this task."
    assert tasks["items"]["properties"]["template"]["x-kubernetes-preserve-unknown-fields"] is True


def test_cross_field_rules_become_cel_validations() -> None:
    spec = crdgen.openapi_schema(AIJob)["properties"]["spec"]
    rules = [rule["rule"] for rule in spec["x-kubernetes-validations"]]
    assert any("minAvailable" in rule and "sum()" in rule for rule in rules)
    sharing = spec["properties"]["tasks"]["items"]["properties"]["devices"]["properties"]["sharing"]
    assert any("migProfile" in rule["rule"] for rule in sharing["x-kubernetes-validations"])


def test_crd_names_scope_short_names_and_printer_columns() -> None:
    docs = {doc["spec"]["names"]["kind"]: doc for doc in map(crdgen.crd, KINDS)}
    assert docs["AIJob"]["spec"]["scope"] == "Namespaced"
    assert docs["AIJob"]["spec"]["names"]["shortNames"] == ["aij"]
    assert docs["DevicePool"]["spec"]["scope"] == "Cluster"
    assert docs["DevicePool"]["spec"]["names"]["shortNames"] == ["dp"]
    assert docs["Queue"]["spec"]["scope"] == "Cluster"
    for doc in docs.values():
        version = doc["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert "Age" in columns and len(columns) >= 4


def test_committed_crds_are_up_to_date() -> None:
    assert crdgen.stale_files(CRDS) == [], "run `make crds`"
    for path in CRDS.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["kind"] == "CustomResourceDefinition"


def test_crds_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["crds", "--output", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["crds", "--check", "--output", str(tmp_path)]).exit_code == 0
    target = tmp_path / crdgen.file_name(AIJob)
    target.write_text(target.read_text().replace("Number of pods of this task.", "edited by hand"))
    result = runner.invoke(app, ["crds", "--check", "--output", str(tmp_path)])
    assert result.exit_code == 1
    assert "make crds" in result.output and crdgen.file_name(AIJob) in result.output
