"""Plugin registry: names in a profile map to factories, so the framework never imports a plugin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from motherboard.scheduler.placement.framework import Plugin, PluginContext

PluginFactory = Callable[[Mapping[str, Any], PluginContext], Plugin]


class UnknownPluginError(KeyError):
    """A profile names a plugin no registry entry provides."""


class Registry:
    """Name → factory."""

    def __init__(self, factories: Mapping[str, PluginFactory] | None = None) -> None:
        self._factories: dict[str, PluginFactory] = dict(factories or {})

    def register(self, name: str, factory: PluginFactory) -> None:
        if name in self._factories:
            raise ValueError(f"plugin {name!r} is already registered")
        self._factories[name] = factory

    def create(self, name: str, args: Mapping[str, Any], ctx: PluginContext) -> Plugin:
        try:
            factory = self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories))
            raise UnknownPluginError(f"no plugin named {name!r}; registered: {known}") from None
        return factory(args, ctx)

    def names(self) -> list[str]:
        return sorted(self._factories)
