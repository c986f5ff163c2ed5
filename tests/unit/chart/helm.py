"""Run the pinned helm on the chart and parse what it renders (strictly: a duplicated key is an error)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from motherboard.devcluster.build import TOOLS, build_tool

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "motherboard"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE, NAMESPACE = "mb", "motherboard-system"


def helm_binary() -> Path:
    """The dev cluster's helm (built once from its pinned Go module, like the control-plane binaries)."""
    tool = next(t for t in TOOLS if t.name == "helm")
    return build_tool(tool) / "helm"


def helm(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, check=check, timeout=120
    )


class _StrictLoader(yaml.SafeLoader):
    """A loader that refuses duplicated mapping keys (the API server would keep one silently)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    repeated = {k for k in keys if keys.count(k) > 1}
    if repeated:
        raise yaml.constructor.ConstructorError(None, None, f"duplicated keys {repeated}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def render(*values: Path, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``helm template`` of the chart as a list of objects."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.load_all(result.stdout, Loader=_StrictLoader) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}
