"""Enums and small types shared by the v1alpha1 kinds."""

from __future__ import annotations

from enum import StrEnum


class Vendor(StrEnum):
    """Accelerator vendor."""

    NVIDIA = "nvidia"
    HUAWEI = "huawei"
    CAMBRICON = "cambricon"
    AMD = "amd"
    KUNLUNXIN = "kunlunxin"
    METAX = "metax"


class SharingMode(StrEnum):
    """How a device is handed out: whole, as a MIG slice, or as a fractional share."""

    WHOLE = "Whole"
    MIG = "MIG"
    FRACTION = "Fraction"


class TopologyLevel(StrEnum):
    """How close the pods of one job must be."""

    NODE = "Node"
    NVLINK_DOMAIN = "NVLinkDomain"
    RACK = "Rack"
    SITE = "Site"


class SiteKind(StrEnum):
    """Central data centre or edge site."""

    CENTRAL = "Central"
    EDGE = "Edge"
