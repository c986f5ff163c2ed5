"""Generate structural CustomResourceDefinitions from the pydantic API models.

The pydantic models are the single source of truth: field docstrings become the descriptions that
``kubectl explain`` shows, constraints become OpenAPI validation, and each model's ``CEL_RULES`` become
``x-kubernetes-validations``. The JSON schema pydantic emits is turned into the *structural* OpenAPI v3
subset the API server accepts: references inlined, ``anyOf: [X, null]`` collapsed to an optional ``X``,
JSON-Schema-2020 forms rewritten to OpenAPI 3.0 ones, and quantities as int-or-string.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from motherboard.api.base import QUANTITY_MARKER, Resource
from motherboard.api.constants import GROUP, VERSION
from motherboard.api.v1alpha1 import KINDS

JsonSchema = dict[str, Any]

_DROP_KEYS = {"title", "additionalProperties", "$defs"}

QUANTITY_MAX_LENGTH = 64
QUANTITY_RULE = {
    "rule": "type(self) == int ? int(self) >= 0 : isQuantity(string(self)) && !string(self).startsWith('-')",
    "messageExpression": (
        '"\'" + string(self) + "\' is not a quantity: write a number with an optional unit, e.g. 8, 500m or 10Gi"'
    ),
}
"""Quantities (int or string) are checked by CEL's quantity library, with a message that says what to write."""


def _resolve(node: Any, defs: dict[str, JsonSchema]) -> Any:
    """Inline every ``$ref`` (structural schemas may not contain references)."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **siblings}, defs)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _structural(node: JsonSchema) -> JsonSchema:
    """Rewrite one (resolved) pydantic schema node into the structural OpenAPI v3 form."""
    node = dict(node)
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        options = [option for option in any_of if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {any_of}")
        if node.get("default", 0) is None:
            node.pop("default")
        node = {**options[0], **node}
    if node.pop(QUANTITY_MARKER, False):
        pattern = node.get("pattern")
        node = {k: v for k, v in node.items() if k in {"description", "default"}}
        node.update({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True})
        if pattern:
            # A CEL rule instead of the pattern: the API server's pattern error quoted the regular expression
            # ("should match '^([+]?[0-9.]+)…'"), which tells nobody what to write.
            node["maxLength"] = QUANTITY_MAX_LENGTH
            node["x-kubernetes-validations"] = [dict(QUANTITY_RULE)]
        return node
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node and not isinstance(node[bound], bool):
            node["minimum" if bound == "exclusiveMinimum" else "maximum"] = node[bound]
            node[bound] = True
    if node.get("x-kubernetes-preserve-unknown-fields"):
        node["type"] = "object"
        node.pop("x-kubernetes-embedded-resource", None)
        node.pop("additionalProperties", None)
    elif node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _structural(node["additionalProperties"])
        return {k: v for k, v in node.items() if k != "title"}
    if isinstance(node.get("default"), dict | list):
        node.pop("default")  # object defaults are applied by the operator, not by the API server
    if "properties" in node:
        node["properties"] = {name: _structural(child) for name, child in node["properties"].items()}
    if "items" in node:
        node["items"] = _structural(node["items"])
    return {k: v for k, v in node.items() if k not in _DROP_KEYS}


def openapi_schema(kind: type[Resource]) -> JsonSchema:
    """The structural ``openAPIV3Schema`` of one kind."""
    raw = kind.model_json_schema(by_alias=True, mode="validation")
    resolved = _resolve({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))
    schema = _structural(resolved)
    schema["properties"]["metadata"] = {"type": "object"}
    for key in ("apiVersion", "kind"):
        schema["properties"][key] = {
            "type": "string",
            "description": f"{key} of the object: {schema['properties'][key]['enum'][0]}.",
        }
    return schema


def crd(kind: type[Resource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    plural: str = kind.PLURAL
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "motherboard"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.KIND,
                "listKind": f"{kind.KIND}List",
                "plural": plural,
                "singular": kind.KIND.lower(),
                "shortNames": list(kind.SHORT_NAMES),
                "categories": ["motherboard", "ai"],
            },
            "scope": "Namespaced" if kind.NAMESPACED else "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.PRINTER_COLUMNS),
                }
            ],
        },
    }


def render(kind: type[Resource]) -> str:
    """One CRD as YAML, with a header saying it is generated."""
    header = "# Generated by `make crds` from src/motherboard/api; do not edit by hand.\n"
    body = yaml.safe_dump(crd(kind), sort_keys=False, width=120, allow_unicode=True)
    return header + body


def file_name(kind: type[Resource]) -> str:
    return f"{GROUP}_{kind.PLURAL}.yaml"


def write_all(directory: Path) -> list[Path]:
    """Write every CRD into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = directory / file_name(kind)
        path.write_text(render(kind))
        written.append(path)
    return written


def stale_files(directory: Path) -> list[str]:
    """Names of CRD files in ``directory`` that differ from what the models generate (or are missing)."""
    return [
        file_name(kind)
        for kind in KINDS
        if not (directory / file_name(kind)).is_file()
        or (directory / file_name(kind)).read_text() != render(kind)
    ]
