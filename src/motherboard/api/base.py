"""Shared building blocks of the Motherboard API: the model base class, quantities, conditions, selectors.

Every API model derives from :class:`ApiModel`: camelCase on the wire, snake_case in Python, unknown
fields rejected (a typo in a manifest is an error, not silently dropped), and attribute docstrings become
the field descriptions that ``kubectl explain`` shows.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

QUANTITY_PATTERN = r"^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
"""Kubernetes resource quantity (``8``, ``500m``, ``40Gi``), as the API server's ``quantity`` format."""

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

QUANTITY_MARKER = "x-motherboard-quantity"
"""Schema marker that the CRD generator turns into Kubernetes' int-or-string quantity schema."""


def _quantity_to_str(value: object) -> object:
    # Manifests may write `nominal: 8`; the API server keeps int-or-string, Python always sees a string.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Quantity = Annotated[
    str,
    Field(pattern=QUANTITY_PATTERN, max_length=64, json_schema_extra={QUANTITY_MARKER: True}),
    BeforeValidator(_quantity_to_str),
]
"""A resource quantity as a string (``"8"``, ``"500m"``, ``"40Gi"``)."""

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
"""A DNS-1123 label: lower-case letters, digits and ``-``, at most 63 characters."""

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "u": Decimal("0.000001"),
    "n": Decimal("0.000000001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY_RE = re.compile(r"^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([a-zA-Z]*|[eE][+-]?[0-9]+)$")


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity as an exact decimal (``"500m"`` → 0.5, ``"2Gi"`` → 2147483648, ``"1e3"`` → 1000).

    The one parser of the project (admission converts its result to an exact ``Fraction``).
    """
    if isinstance(value, int | float):
        return Decimal(str(value))  # via str: 0.1 means one tenth, not its binary approximation
    match = _QUANTITY_RE.match(value.strip())
    suffix = match.group(2) if match else ""
    exponent = suffix[:1] in ("e", "E") and suffix[1:] != ""
    if match is None or (not exponent and suffix not in _SUFFIXES):
        raise ValueError(f"{value!r} is not a quantity: write e.g. 8, 500m or 40Gi")
    try:
        if exponent:
            return Decimal(match.group(1)).scaleb(int(suffix[1:]))
        return Decimal(match.group(1)) * _SUFFIXES[suffix]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"{value!r} is not a quantity") from exc


def _add_cel_rules(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    # Cross-field rules live next to the pydantic validator that enforces the same rule in Python; the CRD
    # generator copies them into the schema so the API server enforces them too.
    rules = getattr(cls, "CEL_RULES", None)
    if rules:
        schema["x-kubernetes-validations"] = list(rules)


class ApiModel(BaseModel):
    """Base of every API model: camelCase aliases, strict fields, docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
        json_schema_extra=_add_cel_rules,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as it travels to the API server (camelCase, unset optionals omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A standard Kubernetes condition (``metav1.Condition``)."""

    type: str = Field(min_length=1, max_length=316)
    """Type of the condition in CamelCase, e.g. ``Admitted``."""
    status: ConditionStatus
    """``True``, ``False`` or ``Unknown``."""
    reason: str = Field(default="", max_length=1024)
    """Machine-readable CamelCase reason for the last transition, e.g. ``QuotaExceeded``."""
    message: str = Field(default="", max_length=32768)
    """Human-readable message with details about the last transition."""
    last_transition_time: datetime | None = None
    """When the condition last changed status."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` the condition was set for."""


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(ApiModel):
    """One requirement of a label selector."""

    key: str = Field(min_length=1, max_length=317)
    """The label key the selector applies to."""
    operator: LabelSelectorOperator
    """How the key relates to the values: In, NotIn, Exists or DoesNotExist."""
    values: list[str] = Field(default_factory=list, max_length=64)
    """Values for In and NotIn; empty for Exists and DoesNotExist."""


class LabelSelector(ApiModel):
    """A Kubernetes label selector (``matchLabels`` AND ``matchExpressions``)."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels that must all be present with exactly these values."""
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list, max_length=32)
    """Requirements that must all hold."""

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a set of labels satisfies the selector."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator is LabelSelectorOperator.IN and labels.get(req.key) not in req.values:
                return False
            if req.operator is LabelSelectorOperator.NOT_IN and present and labels[req.key] in req.values:
                return False
            if req.operator is LabelSelectorOperator.EXISTS and not present:
                return False
            if req.operator is LabelSelectorOperator.DOES_NOT_EXIST and present:
                return False
        return True


class ObjectMeta(ApiModel):
    """The part of ``metadata`` Motherboard reads; everything else is kept as it is."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(default="", max_length=253)
    namespace: str | None = None
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Resource(ApiModel):
    """A top-level Motherboard kind: what its CRD is named and how ``kubectl get`` prints it."""

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    SHORT_NAMES: ClassVar[list[str]]
    NAMESPACED: ClassVar[bool]
    PRINTER_COLUMNS: ClassVar[list[dict[str, Any]]]

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
