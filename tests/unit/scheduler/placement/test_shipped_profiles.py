"""The shipped profiles: package data is the runtime source, and the repository copy must match it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from motherboard.scheduler.placement import Placer, ProfileError, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.placement.profile import PROFILE_PACKAGE, shipped_profiles

REPO_COPY = Path(__file__).resolve().parents[4] / "scheduler" / "profiles"


def _package_files() -> dict[str, bytes]:
    root = resources.files(PROFILE_PACKAGE)
    return {p.name: p.read_bytes() for p in root.iterdir() if p.name.endswith(".yaml")}


def test_every_shipped_profile_loads_and_builds() -> None:
    assert "default" in shipped_profiles()
    for name in shipped_profiles():
        Placer(shipped_profile(name), default_registry())


def test_unknown_shipped_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"shipped: .*default"):
        shipped_profile("no-such-profile")


def test_repository_copy_is_identical_to_the_package_data() -> None:
    package = _package_files()
    repo = {p.name: p.read_bytes() for p in REPO_COPY.glob("*.yaml")}
    assert sorted(repo) == sorted(package), "scheduler/profiles/ and the package's profiles list differ"
    for name, data in package.items():
        assert repo[name] == data, (
            f"scheduler/profiles/{name} differs from src/motherboard/scheduler/profiles/{name}; "
            "edit the package copy and copy it over"
        )
