"""Placement: the framework (extension points, cycle state, status, profiles) that decides where pods go.

Plugins live in :mod:`motherboard.scheduler.placement.plugins`; the framework reaches them only through a
:class:`Registry`.
"""

from motherboard.scheduler.placement.framework import (
    CycleState,
    DeviceSelectPlugin,
    FilterPlugin,
    PluginContext,
    PreFilterPlugin,
    Rejection,
    ScorePlugin,
)
from motherboard.scheduler.placement.placer import GangOutcome, Outcome, Placer
from motherboard.scheduler.placement.profile import (
    Profile,
    ProfileError,
    ScoreEntry,
    load_profile,
    shipped_profile,
)
from motherboard.scheduler.placement.registry import Registry, UnknownPluginError
from motherboard.scheduler.placement.status import Code, Diagnosis, Status

__all__ = [
    "Code",
    "CycleState",
    "DeviceSelectPlugin",
    "Diagnosis",
    "FilterPlugin",
    "GangOutcome",
    "Outcome",
    "Placer",
    "PluginContext",
    "PreFilterPlugin",
    "Profile",
    "ProfileError",
    "Registry",
    "Rejection",
    "ScoreEntry",
    "ScorePlugin",
    "Status",
    "UnknownPluginError",
    "load_profile",
    "shipped_profile",
]
