"""Grafana dashboards of Motherboard, generated from Python into the Helm chart and checked against the
metrics the components really export.

``python -m motherboard.dashboards`` writes ``charts/motherboard/dashboards/*.json``; ``--check`` fails when
the committed files differ from the definitions (as ``motherboard crds --check`` does for the CRDs).
"""

from motherboard.dashboards.alerts import GROUPS, Alert, alerts, render_rules
from motherboard.dashboards.definitions import DASHBOARDS
from motherboard.dashboards.model import Dashboard, Panel, Row, Target, Variable
from motherboard.dashboards.promql import exposed_metric_names, metric_names, variable_metric_names
from motherboard.dashboards.render import dashboard_metric_names, stale_files, write_all

__all__ = [
    "DASHBOARDS",
    "GROUPS",
    "Alert",
    "Dashboard",
    "Panel",
    "Row",
    "Target",
    "Variable",
    "alerts",
    "dashboard_metric_names",
    "exposed_metric_names",
    "metric_names",
    "render_rules",
    "stale_files",
    "variable_metric_names",
    "write_all",
]
