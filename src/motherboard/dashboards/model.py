"""A small model of Grafana dashboards: panels with PromQL targets, laid out on the grid, dumped as JSON.

Only what the Motherboard dashboards use; the JSON is Grafana's dashboard model (schemaVersion 39) with a
``datasource`` variable so the dashboards work with any Prometheus data source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel and its legend (``{{label}}`` placeholders)."""

    expr: str
    legend: str = ""
    instant: bool = False
    sparse: bool = False
    """Its series appear only once such an event happened (errors by reason): a healthy system answers
    "no data". The evaluation test then checks that Prometheus accepts the query and knows the metric."""


@dataclass(frozen=True)
class Panel:
    """A panel: ``timeseries``, ``stat``, ``bargauge`` or ``table``."""

    title: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Variable:
    """A dashboard variable filled from ``label_values(metric, label)``."""

    name: str
    query: str
    label: str = ""


@dataclass(frozen=True)
class Row:
    """A titled row of panels."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    """A whole dashboard."""

    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...] = field(default=())

    def expressions(self) -> list[str]:
        """Every PromQL expression of every panel."""
        return [t.expr for row in self.rows for panel in row.panels for t in panel.targets]

    def to_json(self) -> dict[str, Any]:
        """Grafana's dashboard JSON model."""
        panels: list[dict[str, Any]] = []
        y = 0
        next_id = 1
        for row in self.rows:
            panels.append(
                {"type": "row", "id": next_id, "title": row.title, "collapsed": False, "panels": []}
                | {"gridPos": {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1}}
            )
            next_id += 1
            y += 1
            x = 0
            row_height = 0
            for panel in row.panels:
                if x + panel.width > GRID_WIDTH:  # wrap to the next line of the row
                    x, y, row_height = 0, y + row_height, 0
                panels.append(_panel(panel, next_id, x, y))
                next_id += 1
                x += panel.width
                row_height = max(row_height, panel.height)
            y += row_height
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["motherboard"],
            "timezone": "browser",
            "editable": True,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": [_datasource_variable(), *(_variable(v) for v in self.variables)]},
            "panels": panels,
        }

    def render(self) -> str:
        """The JSON text written into the chart (stable key order, trailing newline)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    options: dict[str, Any] = {
        "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]}
    }
    if panel.kind in {"stat", "bargauge"}:
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    if panel.kind == "table":
        options = {"showHeader": True}
    return {
        "type": panel.kind,
        "id": panel_id,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": target.expr,
                "legendFormat": target.legend,
                "instant": target.instant or panel.kind == "table",
                "range": not (target.instant or panel.kind == "table"),
                **({"format": "table"} if panel.kind == "table" else {}),
            }
            for index, target in enumerate(panel.targets)
        ],
    }


def _datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"}


def _variable(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "label": variable.label or variable.name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": variable.query, "refId": variable.name},
        "definition": variable.query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
    }
