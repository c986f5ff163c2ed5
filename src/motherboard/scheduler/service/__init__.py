"""The Kubernetes adapter of the scheduler: watches, binding, preemption, leader election, metrics.

It translates API objects into the core's values (:mod:`.objects`), keeps them current from watches
(:mod:`.reflector`, :mod:`.world`), runs :class:`~motherboard.scheduler.cycle.Cycle` and carries out its
actions (:mod:`.binder`). The core packages never import this one; it may import ``motherboard.kube``.
"""

from motherboard.scheduler.service.cli import app
from motherboard.scheduler.service.main import Options, serve
from motherboard.scheduler.service.world import World

__all__ = ["Options", "World", "app", "serve"]
