"""The policies ``motherboard simulate --policy`` compares, each a placement profile on the same core."""

from __future__ import annotations

from motherboard.scheduler.placement.profile import Profile, ScoreEntry, shipped_profile

BASELINES = ("random", "bestfit", "dotprod", "packing", "fgd")
POLICIES = (*BASELINES, "motherboard")
FILTERS = ("resources-fit", "device-fit")


def _baseline(name: str, select: str | None = None, **args: object) -> Profile:
    return Profile(
        name=name,
        filter=FILTERS,
        score=(ScoreEntry(name),),
        device_select=select,
        plugin_args={name: dict(args)} if args else {},
    )


def policy_profile(name: str) -> Profile:
    """The profile behind a policy name; ``motherboard`` is the shipped default profile."""
    if name == "motherboard":
        return shipped_profile("default")
    if name == "fgd":
        return _baseline("fgd", "fgd", quantise=True)
    if name == "random":
        return _baseline("random", "random")
    if name in BASELINES:
        return _baseline(name)
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)} or 'all'")


def parse_policies(text: str) -> list[str]:
    """``all`` or a comma-separated list of policy names."""
    if text.strip() == "all":
        return list(POLICIES)
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)} or 'all'")
    return names


def parse_seeds(text: str) -> list[int]:
    """``42-51``, ``42,43`` or a mix."""
    seeds: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            if hi < lo:
                raise ValueError(f"empty seed range {part!r}")
            seeds.extend(range(lo, hi + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError("no seeds given")
    return seeds
