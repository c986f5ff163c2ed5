"""Rejections are values: a :class:`Status` with a :class:`Code` and the reasons, never an exception."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum


class Code(IntEnum):
    """Outcome of a plugin or of a whole placement attempt (kube-scheduler's codes)."""

    SUCCESS = 0
    UNSCHEDULABLE = 1
    """Does not fit now; may fit after other pods leave or are preempted."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = 2
    """Can never fit as the cluster is (e.g. no node has the requested GPU model); preemption won't help."""
    ERROR = 3
    """A plugin failed unexpectedly; the cycle should be retried."""


@dataclass(frozen=True)
class Status:
    """A verdict with reasons; ``plugin`` names who decided."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)

    @classmethod
    def success(cls) -> Status:
        return _SUCCESS

    @classmethod
    def unschedulable(cls, *reasons: str, plugin: str = "", unresolvable: bool = False) -> Status:
        code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE
        return cls(code, reasons, plugin)


_SUCCESS = Status()


@dataclass
class Diagnosis:
    """Why nodes were rejected: reason → number of nodes, summarised like kube-scheduler."""

    total: int
    counts: Counter[str] = field(default_factory=Counter)
    unresolvable: bool = True

    def summary(self, available: int = 0) -> str:
        parts = ", ".join(
            f"{n} {reason}" for reason, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        head = f"{available}/{self.total} nodes are available"
        return f"{head}: {parts}." if parts else f"{head}."

    def status(self, plugin: str = "") -> Status:
        return Status.unschedulable(self.summary(), plugin=plugin, unresolvable=self.unresolvable)
