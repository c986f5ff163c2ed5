"""Profiles: which plugins run at each extension point, with weights, loaded from YAML.

```yaml
name: motherboard
plugins:
  filter: [resources-fit, device-fit, site-affinity, topology]
  score:
    - {name: fragmentation, weight: 10}
    - {name: topology, weight: 1}
  deviceSelect: fragmentation
pluginArgs:
  fragmentation: {quantise: false}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PROFILE_PACKAGE = "motherboard.scheduler.profiles"
"""The package whose ``<name>.yaml`` data files are the shipped profiles (works from a wheel too)."""


class ProfileError(ValueError):
    """A profile file that is not valid."""


@dataclass(frozen=True)
class ScoreEntry:
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class Profile:
    """A named plugin configuration."""

    name: str
    pre_filter: tuple[str, ...] = ()
    filter: tuple[str, ...] = ()
    score: tuple[ScoreEntry, ...] = ()
    device_select: str | None = None
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: object, source: str = "<profile>") -> Profile:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ProfileError(f"{source}: a profile is a mapping with a string 'name'")
        plugins = raw.get("plugins") or {}
        if not isinstance(plugins, dict):
            raise ProfileError(f"{source}: 'plugins' must be a mapping of extension point to plugins")
        unknown = set(plugins) - {"preFilter", "filter", "score", "deviceSelect"}
        if unknown:
            raise ProfileError(f"{source}: unknown extension points {sorted(unknown)}")
        scores = []
        for entry in plugins.get("score") or []:
            if isinstance(entry, str):
                scores.append(ScoreEntry(entry))
            elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                scores.append(ScoreEntry(entry["name"], float(entry.get("weight", 1))))
            else:
                raise ProfileError(f"{source}: score entries are names or {{name, weight}} mappings")
        args = raw.get("pluginArgs") or {}
        if not isinstance(args, dict):
            raise ProfileError(f"{source}: 'pluginArgs' must map plugin names to argument mappings")
        return cls(
            name=raw["name"],
            pre_filter=tuple(plugins.get("preFilter") or ()),
            filter=tuple(plugins.get("filter") or ()),
            score=tuple(scores),
            device_select=plugins.get("deviceSelect"),
            plugin_args={str(k): dict(v or {}) for k, v in args.items()},
        )


def load_profile(path: str | Path) -> Profile:
    """Read one profile from a YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    return Profile.from_dict(raw, str(path))


def shipped_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    root = resources.files(PROFILE_PACKAGE)
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


def shipped_profile(name: str = "default") -> Profile:
    """A profile shipped as package data (``motherboard/scheduler/profiles/<name>.yaml``)."""
    source = resources.files(PROFILE_PACKAGE) / f"{name}.yaml"
    if not source.is_file():
        known = ", ".join(shipped_profiles()) or "none"
        raise ProfileError(f"no shipped profile {name!r} (shipped: {known})")
    try:
        raw = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{PROFILE_PACKAGE}/{name}.yaml: not valid YAML: {exc}") from exc
    return Profile.from_dict(raw, f"{PROFILE_PACKAGE}/{name}.yaml")
