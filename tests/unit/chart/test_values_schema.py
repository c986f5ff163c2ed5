"""values.schema.json refuses bad values at install time with a message naming the field."""

from __future__ import annotations

import pytest

from tests.unit.chart.helm import CHART, helm

BAD_VALUES = [
    # (--set arguments, what the error must say)
    (["operator.replicas=-1"], "/operator/replicas"),
    (["scheduler.replicas=-1"], "/scheduler/replicas"),
    (["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
    (["scheduler.metricsPort=70000"], "/scheduler/metricsPort"),
    (["operator.webhook.port=0"], "/operator/webhook/port"),
    (["operator.modelServing.port=0"], "/operator/modelServing/port"),
    (
        ["devicePlugins.backends.nvidia.nodeSelector=null", "devicePlugins.backends.nvidia.enabled=true"],
        "nodeSelector",
    ),
    (["devicePlugins.backends.tpu.enabled=true"], "tpu"),
    (
        ["devicePlugins.backends.ascend.config.siteKind=moon"],
        "/devicePlugins/backends/ascend/config/siteKind",
    ),
    (
        ["devicePlugins.backends.ascend.hostPaths[0].path=relative/path"],
        "/devicePlugins/backends/ascend/hostPaths/0/path",
    ),
    (["securityContext.privileged=true"], "/securityContext/privileged"),
    (["podSecurityContext.runAsNonRoot=false"], "/podSecurityContext/runAsNonRoot"),
    (["operator.resources.requests.memory=lots"], "/operator/resources/requests/memory"),
    (["serviceMonitor.interval=often"], "/serviceMonitor/interval"),
    (["logLevel=LOUD"], "/logLevel"),
    (["schedulr.replicas=1"], "schedulr"),
]


@pytest.mark.parametrize(("sets", "says"), BAD_VALUES, ids=[s[0] for s, _ in BAD_VALUES])
def test_bad_values_fail_with_the_field_named(sets: list[str], says: str) -> None:
    args = ["template", "mb", str(CHART)]
    for item in sets:
        args += ["--set", item]
    result = helm(*args)
    assert result.returncode != 0, f"{sets} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert says in result.stderr, result.stderr


def test_install_time_validation_covers_every_top_level_value() -> None:
    import json

    import yaml

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"]), "values.yaml and values.schema.json disagree"
    assert schema["additionalProperties"] is False
