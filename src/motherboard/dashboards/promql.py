"""Which metrics a PromQL expression reads, and which metrics a ``/metrics`` page exposes.

Both sides of the dashboards' contract: every metric a dashboard query names must be one a component
exports. The parser is deliberately small (no full PromQL grammar): it strips what cannot be a metric name
(strings, label matchers, ranges, grouping clauses, Grafana variables, numbers) and keeps every identifier
that is not a function, an aggregation or a keyword.
"""

from __future__ import annotations

import re

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?\b", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[,{)]")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, e.g. ``rate(a_total{x="y"}[5m]) / b`` → ``{a_total, b}``."""
    text = _STRING.sub(" ", expr)
    text = _GRAFANA_VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        rest = text[match.end() :].lstrip()
        if word in _KEYWORDS or rest.startswith("("):  # functions and aggregations are followed by "("
            continue
        names.add(word)
    return names


def variable_metric_names(query: str) -> set[str]:
    """The metric of a Grafana ``label_values(metric, label)`` variable query (empty for other queries)."""
    found = _LABEL_VALUES.match(query)
    return {found.group(1)} if found else set()


def exposed_metric_names(exposition: str) -> set[str]:
    """Every series name a Prometheus text exposition can carry, from its ``# TYPE`` lines.

    A labelled metric that has no children yet has no samples but still has its ``# TYPE`` line, so this
    reads what a component *exports*, not only what it has observed so far.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[:2] != ["#", "TYPE"]:
            continue
        name, kind = parts[2], parts[3]
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
        elif kind == "summary":
            names |= {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
        elif kind == "counter":
            names |= {name, f"{name.removesuffix('_total')}_created"}
        else:
            names.add(name)
    return names
