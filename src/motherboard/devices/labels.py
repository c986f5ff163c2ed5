"""Node labels from discovered devices (feature discovery), as a pure function.

DevicePools and the scheduler select nodes on these labels; the NVIDIA ones keep GPU feature discovery's
names because existing selectors use them. A node with several kinds of devices is labelled after the
kind it has most of (ties: the first discovered).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from motherboard.api import constants as c
from motherboard.devices.model import Device, Vendor

OWNED_LABELS: tuple[str, ...] = (
    c.LABEL_ACCELERATOR_VENDOR,
    c.LABEL_ACCELERATOR_MODEL,
    c.LABEL_ACCELERATOR_COUNT,
    c.LABEL_ACCELERATOR_MEMORY_MIB,
    c.LABEL_DRIVER_VERSION,
    c.LABEL_NVIDIA_PRODUCT,
    c.LABEL_NVIDIA_MEMORY,
    c.LABEL_NVIDIA_COUNT,
    c.LABEL_NVIDIA_MIG_CAPABLE,
    c.LABEL_NVIDIA_MIG_STRATEGY,
    c.LABEL_AMD_PARTITION,
    c.LABEL_SITE,
    c.LABEL_SITE_KIND,
)
"""Every label this module may set; a publisher removes those that no longer apply."""

MIG_CAPABLE_MODELS = ("A100", "A30", "H100", "H200", "H20", "H800", "B200", "GB200")
_INVALID = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(value: str) -> str:
    """A valid label value: at most 63 characters of ``[A-Za-z0-9._-]``, alphanumeric at both ends."""
    return _INVALID.sub("-", value)[:63].strip("-._")


def node_labels(
    devices: Sequence[Device], driver_version: str = "", site: str | None = None, site_kind: str | None = None
) -> dict[str, str]:
    """The labels describing a node's accelerators (and its site, from configuration)."""
    labels: dict[str, str] = {}
    if site:
        labels[c.LABEL_SITE] = label_value(site)
    if site_kind:
        labels[c.LABEL_SITE_KIND] = label_value(site_kind)
    if not devices:
        return labels
    kinds = Counter((d.vendor, d.model) for d in devices)
    (vendor, model), count = kinds.most_common(1)[0]
    same = [d for d in devices if (d.vendor, d.model) == (vendor, model)]
    memory = min(d.memory_mib for d in same)
    labels |= {
        c.LABEL_ACCELERATOR_VENDOR: vendor.value,
        c.LABEL_ACCELERATOR_MODEL: label_value(model),
        c.LABEL_ACCELERATOR_COUNT: str(count),
        c.LABEL_ACCELERATOR_MEMORY_MIB: str(memory),
    }
    if driver_version:
        labels[c.LABEL_DRIVER_VERSION] = label_value(driver_version)
    if vendor is Vendor.NVIDIA:
        mig_on = any(d.mig_enabled for d in same)
        labels |= {
            c.LABEL_NVIDIA_PRODUCT: label_value(f"NVIDIA-{model}"),
            c.LABEL_NVIDIA_MEMORY: str(memory),
            c.LABEL_NVIDIA_COUNT: str(count),
            c.LABEL_NVIDIA_MIG_CAPABLE: str(mig_on or model.upper().startswith(MIG_CAPABLE_MODELS)).lower(),
            c.LABEL_NVIDIA_MIG_STRATEGY: "mixed" if mig_on else "none",
        }
    modes = {p.profile for d in same for p in d.partitions}
    if vendor is Vendor.AMD and len(modes) == 1:
        labels[c.LABEL_AMD_PARTITION] = label_value(modes.pop())
    return labels


def label_patch(labels: dict[str, str]) -> dict[str, str | None]:
    """A merge patch that sets ``labels`` and removes the owned labels that no longer apply."""
    return {key: labels.get(key) for key in OWNED_LABELS} | labels
