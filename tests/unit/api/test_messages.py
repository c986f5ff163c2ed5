"""Validation messages say what to write, not which regular expression failed (issue 14)."""

from __future__ import annotations

import pytest

from motherboard.api.manifests import ManifestError, parse_object


def queue(**spec: object) -> dict[str, object]:
    return {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "q"}, "spec": spec}


@pytest.mark.parametrize(
    ("nominal", "message"),
    [
        ("10 GB", "spec.quotas[0].nominal: '10 GB' is not a quantity; write 10Gi (binary units: Ki, Mi, Gi, Ti)"),
        (-2, "spec.quotas[0].nominal: '-2' is negative; a quantity is zero or more, e.g. 2"),
        ("lots", "spec.quotas[0].nominal: 'lots' is not a quantity; write a number with an optional unit, e.g. 8, "
         "500m or 10Gi"),
    ],
)  # fmt: skip
def test_a_bad_quantity_gets_an_example(nominal: object, message: str) -> None:
    with pytest.raises(ManifestError) as refused:
        parse_object(queue(quotas=[{"resource": "memory", "nominal": nominal}]))
    assert str(refused.value) == message
    assert "pattern" not in str(refused.value)


def test_a_bad_name_gets_a_suggestion() -> None:
    with pytest.raises(ManifestError) as refused:
        parse_object(queue(parent="Team_A"))
    assert str(refused.value) == (
        "spec.parent: 'Team_A' is not a valid name: use lower-case letters, digits and '-', starting and "
        "ending with a letter or digit, e.g. team-a"
    )
