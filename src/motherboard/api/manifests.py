"""Load and validate Motherboard manifests (YAML files of AIJobs, DevicePools and Queues).

Used by ``motherboard validate``, by the tests of ``examples/`` and by anything that reads manifests from
disk. Errors name the file, the document, the field path and the fix, so nothing is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from motherboard.api.base import DNS_LABEL_PATTERN, QUANTITY_PATTERN, Resource
from motherboard.api.constants import API_VERSION
from motherboard.api.v1alpha1 import KINDS

_BY_KIND: dict[str, type[Resource]] = {kind.KIND: kind for kind in KINDS}


class ManifestError(ValueError):
    """A manifest is not valid; the message names where and why."""


@dataclass(frozen=True)
class Manifest:
    """One validated document of a manifest file."""

    source: str
    """``file#index`` of the document."""
    obj: Resource
    """The validated object."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a manifest path: ``spec.tasks[0].replicas``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "model-")) or "[" in part:
            continue  # pydantic's validator frames, not fields
        else:
            path += f".{part}" if path else part
    return path or "(document)"


_RELATIVE_FIELD = re.compile(r"^([A-Za-z][\w.]*): (.*)$", re.DOTALL)


def explain(error: ValidationError) -> str:
    """Every problem of a validation error, one per line, each led by its field path.

    Cross-field validators word their messages as ``field: what is wrong``, relative to the object they
    check; the path of that object is put in front, so every line names the full field.
    """
    lines = []
    for item in error.errors():
        path = field_path(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch":
            message = _pattern_message(
                str(item.get("input")), str((item.get("ctx") or {}).get("pattern", ""))
            )
        relative = _RELATIVE_FIELD.match(message)
        if relative:
            path = f"{path}.{relative.group(1)}" if path != "(document)" else relative.group(1)
            message = relative.group(2)
        lines.append(f"{path}: {message}")
    return "\n".join(lines)


_BYTES_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGTP])i?B?\s*$")


def _pattern_message(value: str, pattern: str) -> str:
    """What is wrong with a value that does not match its field's pattern, with an example to copy.

    People cannot read a regular expression into a fix ("String should match pattern '^([+]?[0-9.]+)…'"
    for ``10 GB`` or ``-2``); they can read "write 10Gi".
    """
    if pattern == QUANTITY_PATTERN:
        if value.strip().startswith("-"):
            return f"{value!r} is negative; a quantity is zero or more, e.g. {value.strip().lstrip('-')}"
        match = _BYTES_RE.match(value)
        if match:
            number, unit = match.groups()
            return (
                f"{value!r} is not a quantity; write {number}{unit.upper()}i (binary units: Ki, Mi, Gi, Ti)"
            )
        return f"{value!r} is not a quantity; write a number with an optional unit, e.g. 8, 500m or 10Gi"
    if pattern == DNS_LABEL_PATTERN:
        suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-") or "my-name"
        return (
            f"{value!r} is not a valid name: use lower-case letters, digits and '-', starting and ending with "
            f"a letter or digit, e.g. {suggestion}"
        )
    return f"{value!r} does not have the form this field takes (see its description: kubectl explain)"


def parse_object(document: dict[str, Any]) -> Resource:
    """Validate one Motherboard object (a dict as in YAML); raises :class:`ManifestError`."""
    kind = document.get("kind")
    if document.get("apiVersion") != API_VERSION or kind not in _BY_KIND:
        raise ManifestError(
            f"apiVersion/kind: expected apiVersion {API_VERSION} and kind one of {', '.join(_BY_KIND)}, "
            f"got {document.get('apiVersion')!r}/{kind!r}"
        )
    try:
        return _BY_KIND[kind].model_validate(document)
    except ValidationError as exc:
        raise ManifestError(explain(exc)) from exc


def iter_documents(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every non-empty YAML document of a file, with its ``file#index`` label."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ManifestError(f"{path}#{index}: a manifest document must be a mapping")
        yield f"{path}#{index}", document


def load_manifests(path: Path) -> list[Manifest]:
    """Validate every Motherboard object in a file (other kinds, e.g. Namespaces, are skipped)."""
    manifests = []
    for source, document in iter_documents(path):
        if str(document.get("apiVersion", "")).split("/")[0] != API_VERSION.split("/")[0]:
            continue
        try:
            manifests.append(Manifest(source, parse_object(document)))
        except ManifestError as exc:
            raise ManifestError(f"{source} ({document.get('kind')} {_name(document)}):\n{exc}") from exc
    return manifests


def _name(document: dict[str, Any]) -> str:
    metadata = document.get("metadata") or {}
    return str(metadata.get("name", "<unnamed>"))
