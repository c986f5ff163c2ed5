"""Device rules the scheduler enforces: valid MIG layouts on top of the catalogue in ``api.mig``."""

from motherboard.scheduler.devicemodel.mig import (
    MigInstance,
    MigLayoutError,
    canonical_model,
    mig_capable,
    place,
    profile_of,
    validate_layout,
)

__all__ = [
    "MigInstance",
    "MigLayoutError",
    "canonical_model",
    "mig_capable",
    "place",
    "profile_of",
    "validate_layout",
]
